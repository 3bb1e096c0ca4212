"""Small, deterministic text tools shared by retrieval and the local model (English + Spanish)."""

from __future__ import annotations

import functools
import re
import unicodedata

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'¿¡(\[]?[A-ZÁÉÍÓÚÑÜ0-9`])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")

STOPWORDS_EN = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours out over own same she should so some such than that the their theirs them
    then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself tell explain
    describe please give show list me let us does do did should could would can""".split()
)
STOPWORDS_ES = frozenset(
    """a al algo algunas algunos ante antes como con contra cual cuales cuando de del desde
    donde dos el ella ellas ellos en entre era eran es esa esas ese eso esos esta estaba
    estan estas este esto estos fue fueron ha han hasta hay la las le les lo los mas me mi
    mis mucho muy nada ni no nos o os otra otro para pero poco por porque que quien quienes
    se sea ser si sin sobre son su sus tambien tanto te tiene tienen todo todos tu tus un
    una unas uno unos y ya yo explica explicame dime describe cuentame puedes podrias debo
    debe deben sirve sirven hace hacer""".split()
)
STOPWORDS = STOPWORDS_EN | STOPWORDS_ES

_ES_HINTS = frozenset(
    """el la los las del que es para por una con como qué cómo cuál cuáles son está sobre
    también puedo debo cuándo dónde porqué""".split()
)
_EN_HINTS = frozenset(
    """the is are what how which of and for with to does do can why when where should""".split()
)


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def fold(text: str) -> str:
    """Lower-case, accent-free form for matching (``Evaluación`` → ``evaluacion``)."""
    return strip_accents(text).casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def stem(word: str) -> str:
    """A crude, language-agnostic stem: the first six letters of longer words.

    Prefix stems match English and Spanish inflections alike (monitoring / monitorización →
    monito); good enough for ranking sentences, not meant as linguistics.
    """
    return word[:6] if len(word) > 6 else word


def terms(text: str) -> list[str]:
    """Content-word stems of ``text``: no stop words, no one-letter words."""
    return [stem(w) for w in words(text) if len(w) > 1 and w not in STOPWORDS]


# Spanish verbs whose stem changes with the person (e→i, e→ie, o→ue): Snowball leaves "mido" /
# "mide" apart from "medir". Their forms (accent-free) map to the infinitive before stemming.
_IRREGULAR_ES = {
    form: lemma
    for lemma, forms in {
        "medir": "mido mides mide miden midio midieron midiendo mida midan medicion mediciones",
        "desplegar": "despliego despliegas despliega despliegan despliegue despliegues",
        "costar": "cuesta cuestan cueste cuesten",
        "probar": "pruebo pruebas prueba prueban pruebe prueben",
        "elegir": "elijo eliges elige eligen elija elijan",
        "seguir": "sigo sigues sigue siguen siga sigan",
        "pedir": "pido pides pide piden pida pidan",
        "corregir": "corrijo corriges corrige corrigen corrija corrijan",
        "repetir": "repito repites repite repiten repita repitan",
        "requerir": "requiero requieres requiere requieren requiera requieran",
        "convertir": "convierto conviertes convierte convierten convierta conviertan",
        "devolver": "devuelvo devuelves devuelve devuelven devuelva devuelvan",
        "resolver": "resuelvo resuelves resuelve resuelven resuelva resuelvan",
        "volver": "vuelvo vuelves vuelve vuelven vuelva vuelvan",
        "encontrar": "encuentro encuentras encuentra encuentran encuentre encuentren",
        "advertir": "advierto adviertes advierte advierten advierta",
        "sugerir": "sugiero sugieres sugiere sugieren sugiera",
        "entender": "entiendo entiendes entiende entienden entienda",
    }.items()
    for form in forms.split()
}


@functools.cache
def _spanish_stemmer():  # type: ignore[no-untyped-def]
    import snowballstemmer

    return snowballstemmer.stemmer("spanish")


@functools.lru_cache(maxsize=1 << 16)
def _index_stem(word: str) -> str:
    base = _IRREGULAR_ES.get(strip_accents(word), word)
    return stem(strip_accents(_spanish_stemmer().stemWord(base)))


def index_terms(text: str, lang: str | None = None) -> list[str]:
    """Keyword-index terms of ``text`` in ``lang`` (``en`` or ``es``; detected when None).

    Spanish: content words reduced by the Spanish Snowball stemmer ("evalúa", "evaluar",
    "evaluación" → ``evalu``), stem-changing verbs first mapped to their infinitive ("mido",
    "mide" → ``medir``), then cut to the six-letter prefix of ``stem`` so that terms shared
    with English still meet (monitorización / monitoring). English: the plain ``terms`` —
    the English Snowball stemmer measured worse on our question set (recall@1 0.67 vs 0.72,
    docs/benchmarks.md). Used by retrieval's BM25 and query coverage."""
    code = lang if lang in ("en", "es") else detect_lang(text)
    if code != "es":
        return terms(text)
    out = []
    for word in _WORD.findall(text.casefold()):
        folded = strip_accents(word)
        if len(folded) > 1 and folded not in STOPWORDS:
            out.append(_index_stem(word))
    return out


def count_tokens(text: str) -> int:
    """An approximate token count (words and punctuation), deterministic."""
    return len(_TOKEN.findall(text))


def detect_lang(text: str) -> str:
    """``"es"`` or ``"en"`` from stop words, accents and Spanish punctuation."""
    return guess_lang(text) or "en"


def guess_lang(text: str) -> str | None:
    """``"es"``, ``"en"``, or None when the text gives no evidence either way ("ok",
    "LLMOps?") or as much for one as for the other."""
    es, en = lang_evidence(text)
    return "es" if es > en else "en" if en > es else None


def lang_evidence(text: str) -> tuple[float, float]:
    """How much of ``text`` looks Spanish and how much English (stop words, accents, ¿, ñ)."""
    lowered = text.casefold()
    tokens = re.findall(r"\w+", lowered)
    es: float = sum(t in _ES_HINTS for t in tokens) + 2 * lowered.count("¿") + lowered.count("ñ")
    es += sum(lowered.count(c) for c in "áéíóú") * 0.5
    en = float(sum(t in _EN_HINTS for t in tokens))
    return es, en


def split_sentences(text: str) -> list[str]:
    """Sentences of a paragraph-structured text; markdown lines stay separate."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*•>").strip()
        if not line:
            continue
        out.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return out


def clean_control(text: str) -> str:
    """Remove control and bidi-override characters, keep newlines and tabs."""
    return _CONTROL.sub("", text)


_CITATION = re.compile(r"\s*\[\d{1,3}\]")
_DECLINE = re.compile(
    r"\b(does not cover|do not cover|doesn t cover|not covered|i do not know|i don t know|"
    r"cannot answer|can t answer|unable to answer|no cubre|no lo se|no se la respuesta|"
    r"no puedo responder)\b"
)


def declines(answer: str) -> bool:
    """The answer opens by saying it cannot answer (English or Spanish). Only the first
    sentence counts: an answer may quote a source that says what the knowledge base does not
    cover without declining itself."""
    sentences = split_sentences(_CITATION.sub("", answer))
    return bool(sentences) and bool(_DECLINE.search(" ".join(words(sentences[0]))))
