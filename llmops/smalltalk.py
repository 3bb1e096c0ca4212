"""Conversational turns: greetings, thanks, "what can you do?", "who are you?", goodbyes.

They get a short friendly reply in the user's language saying what the assistant knows about —
no retrieval, no "not covered". A message that opens with a greeting and then asks something
("hola, ¿qué es LLMOps?") is a question: ``strip_opening`` removes the greeting first.

The phrases are data (``PHRASES``): folded (lower case, no accents), one list per intent and
language; ``None`` marks words that belong to both languages ("ok").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmops.text import fold, guess_lang, lang_evidence

# intent → language → phrases (folded words)
PHRASES: dict[str, dict[str | None, tuple[str, ...]]] = {
    "greeting": {
        "en": ("hi", "hello", "hey", "hiya", "howdy", "greetings", "good morning",
               "good afternoon", "good evening", "good day", "how are you", "how are you doing",
               "how is it going", "hows it going", "how s it going", "whats up", "what s up"),
        "es": ("hola", "buenas", "buenos dias", "buen dia", "buenas tardes", "buenas noches",
               "que tal", "como estas", "como esta", "como te va", "como va", "saludos",
               "holi", "ey"),
    },
    "thanks": {
        "en": ("thanks", "thank you", "thank you very much", "thanks a lot", "many thanks",
               "thx", "ty", "cheers", "much appreciated", "appreciate it", "i appreciate it",
               "that helps", "that helped", "that was helpful", "very helpful", "great",
               "awesome", "perfect", "got it", "understood", "nice", "excellent"),
        "es": ("gracias", "muchas gracias", "mil gracias", "muchisimas gracias",
               "te lo agradezco", "genial", "perfecto", "vale", "estupendo", "entendido",
               "de acuerdo", "muy util", "me sirve", "me ha servido", "excelente", "guay"),
        None: ("ok", "okay", "okey", "cool", "super"),
    },
    "capabilities": {
        "en": ("what can you do", "what do you do", "what can you help with",
               "what can you help me with", "how can you help", "how can you help me",
               "what do you know", "what do you know about", "what can i ask",
               "what can i ask you", "what can i ask about", "what topics do you cover",
               "what topics", "what are you able to do", "what are your capabilities",
               "help", "help me", "i need help", "what do you cover"),
        "es": ("que puedes hacer", "que sabes hacer", "que sabes", "de que sabes",
               "en que me puedes ayudar", "en que puedes ayudarme", "como me puedes ayudar",
               "como puedes ayudarme", "que te puedo preguntar", "que puedo preguntarte",
               "que puedo preguntar", "sobre que puedo preguntar", "que temas conoces",
               "que temas cubres", "ayuda", "ayudame", "necesito ayuda"),
    },
    "identity": {
        "en": ("who are you", "what are you", "are you a bot", "are you human",
               "are you a human", "are you a person", "are you a robot", "are you an ai",
               "whats your name", "what s your name", "what is your name", "who made you",
               "who built you", "introduce yourself"),
        "es": ("quien eres", "que eres", "eres un bot", "eres humano", "eres una persona",
               "eres un robot", "eres una ia", "como te llamas", "cual es tu nombre",
               "quien te hizo", "quien te creo", "presentate"),
    },
    "goodbye": {
        "en": ("bye", "goodbye", "good bye", "bye bye", "see you", "see you later", "see ya",
               "thats all", "that s all", "that is all", "have a nice day",
               "have a good day", "good night", "farewell", "talk later"),
        "es": ("adios", "hasta luego", "hasta pronto", "hasta manana", "chao", "chau",
               "nos vemos", "eso es todo", "que tengas buen dia", "que tengas un buen dia",
               "hasta la proxima"),
    },
}  # fmt: skip

# Words that may surround the phrases without making the message a question.
FILLERS = frozenset(
    """there again so much very lot a all oh well and you too really for the help info your
    answer assistant bot friend please then just ok now de nuevo otra vez y muy mucho muchas
    por favor la ayuda informacion respuesta amigo asistente tu entonces pues bueno ya
    todo eh ah""".split()
)

# Which intent the reply is for when a message has several ("hi, who are you?").
PRIORITY = ("capabilities", "identity", "goodbye", "thanks", "greeting")

_KNOWS = {
    "en": "LLMOps — its lifecycle, deployment and releases, monitoring and tracing, evaluation, "
    "efficiency and scaling, risk, guardrails and responsible AI, tuning with feedback — and "
    "how to do each of these in this app",
    "es": "LLMOps —su ciclo de vida, despliegue y versiones, monitorización y trazas, "
    "evaluación, eficiencia y escalado, riesgos, barandillas e IA responsable, ajuste con "
    "feedback— y cómo hacer cada cosa en esta aplicación",
}

REPLIES: dict[str, dict[str, str]] = {
    "greeting": {
        "en": "Hello! I'm the llmops assistant. I answer questions about "
        + _KNOWS["en"]
        + ", citing the knowledge base. What would you like to know?",
        "es": "¡Hola! Soy el asistente de llmops. Respondo preguntas sobre "
        + _KNOWS["es"]
        + ", citando la base de conocimiento. ¿Qué te gustaría saber?",
    },
    "thanks": {
        "en": "You're welcome! Ask me anything else about LLMOps or this app whenever you like.",
        "es": "¡De nada! Pregúntame lo que quieras sobre LLMOps o esta aplicación cuando quieras.",
    },
    "capabilities": {
        "en": "I answer questions from this app's knowledge base, with the sources I used: "
        + _KNOWS["en"]
        + ". Ask in English or Spanish, for example “How do I roll back a release?” or "
        "“How can I reduce token cost?”.",
        "es": "Respondo preguntas a partir de la base de conocimiento de esta aplicación, con "
        "las fuentes que uso: "
        + _KNOWS["es"]
        + ". Pregunta en español o en inglés, por ejemplo «¿Cómo revierto una versión?» o "
        "«¿Cómo reduzco el coste de tokens?».",
    },
    "identity": {
        "en": "I'm the llmops assistant — an automated helper, not a person. I answer from "
        "this app's knowledge base about " + _KNOWS["en"] + ", and I show the sources I used.",
        "es": "Soy el asistente de llmops, un asistente automático (no una persona). Respondo "
        "a partir de la base de conocimiento de esta aplicación sobre "
        + _KNOWS["es"]
        + ", y muestro las fuentes que uso.",
    },
    "goodbye": {
        "en": "Goodbye! Come back whenever you have a question about LLMOps or this app.",
        "es": "¡Hasta luego! Vuelve cuando tengas una pregunta sobre LLMOps o esta aplicación.",
    },
}

_WORD = re.compile(r"[^\W_]+")
_LONGEST = max(
    len(p.split()) for by_lang in PHRASES.values() for ps in by_lang.values() for p in ps
)
_INDEX: dict[tuple[str, ...], tuple[str, str | None]] = {
    tuple(p.split()): (intent, lang)
    for intent, by_lang in PHRASES.items()
    for lang, phrases in by_lang.items()
    for p in phrases
}


@dataclass(frozen=True)
class SmallTalk:
    intent: str
    lang: str | None  # the language its phrases belong to (None: either)


def _scan(tokens: list[str]) -> tuple[list[tuple[str, str | None, int]], int]:
    """Phrases matched from the start (longest first, fillers skipped): (intent, lang, end
    token index) each, and the index of the first token that is neither."""
    found: list[tuple[str, str | None, int]] = []
    i = 0
    while i < len(tokens):
        for size in range(min(_LONGEST, len(tokens) - i), 0, -1):
            hit = _INDEX.get(tuple(tokens[i : i + size]))
            if hit is not None:
                found.append((hit[0], hit[1], i + size))
                i += size
                break
        else:
            if tokens[i] in FILLERS:
                i += 1
                continue
            return found, i
    return found, i


def detect(message: str) -> SmallTalk | None:
    """The conversational intent of a message made only of small-talk phrases (and filler
    words), or None for anything that asks something else."""
    tokens = [fold(w) for w in _WORD.findall(message)]
    if not tokens or len(tokens) > 14:
        return None
    found, stop = _scan(tokens)
    if not found or stop < len(tokens):
        return None
    intents = {intent for intent, _, _ in found}
    intent = next(i for i in PRIORITY if i in intents)
    langs = [lang for _, lang, _ in found if lang]
    lang = max(set(langs), key=langs.count) if len(set(langs)) == 1 else None
    return SmallTalk(intent, lang)


def strip_opening(message: str) -> str:
    """The message without a leading greeting or thanks ("Hola, ¿qué es RAG?" → "¿qué es
    RAG?"); the message itself when it has none or is nothing else."""
    matches = list(_WORD.finditer(message))
    tokens = [fold(m.group()) for m in matches]
    found, stop = _scan(tokens)
    found = [f for f in found if f[0] in ("greeting", "thanks")]
    if not found or stop >= len(tokens) or stop == 0:
        return message
    cut = matches[stop].start()
    rest = message[cut:].strip()
    # keep an opening "¿" / "¡" that belonged to the question
    before = message[:cut].rstrip()
    if before.endswith(("¿", "¡")):
        rest = before[-1] + rest
    return rest or message


def reply_language(message: str, previous: str | None, hint: str | None = None) -> str:
    """The language to answer in: the message's own (English or Spanish); when it is mixed
    or gives no evidence, ``hint`` (the language of its small-talk phrases), then the
    previous turn's language, then English."""
    es, en = lang_evidence(message)
    if es and en and min(es, en) / max(es, en) >= 0.5:  # mixed: neither language clearly
        return hint or previous or guess_lang(message) or "en"
    return guess_lang(message) or hint or previous or "en"


def reply(talk: SmallTalk, lang: str) -> str:
    return REPLIES[talk.intent][lang if lang in ("en", "es") else "en"]
