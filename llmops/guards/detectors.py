"""Rule-based detectors for prompt injection and abuse, in English and Spanish.

Why rules: the official guardrails-ai validators for these need a hub model or a remote API,
and nothing may be fetched at run time. The rules describe attack and abuse *phenomena* —
instruction overrides, jailbreak personas, system-prompt extraction, fake role tags,
encoded payloads; insults aimed at a person, threats, slurs, dehumanisation of a group — not
particular sentences. Matching runs on a normalised copy of the text (case, accents,
leetspeak, zero-width characters, spaced-out letters, repeated letters) and on decoded
base64/hex payloads. Each detector takes well under a millisecond on a chat message.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

THRESHOLD = 1.0


@dataclass(frozen=True)
class Finding:
    detector: str
    label: str
    score: float
    start: int
    end: int
    reason: str


# -- normalisation ---------------------------------------------------------------------------
_INVISIBLE = re.compile(
    r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]"
)
_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "€": "e",
    }
)
_SPACED = re.compile(r"(?<![^\W_])(?:[a-zñ0-9@$!|][ .\-_*]){2,}[a-zñ0-9@$!|](?![^\W_])")
_REPEAT = re.compile(r"([a-z])\1{2,}")
_MASKED = re.compile(r"(?<=[a-z])[*#%.\-_]{1,3}(?=[a-z])")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text)).casefold()
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=2048)
def normalize(text: str) -> str:
    """Lower-case, accent-free, de-obfuscated text for matching (offsets are not kept)."""
    folded = _fold(text)
    # spaced-out letters ("i g n 0 r e") first, so their leetspeak is seen as one word
    folded = _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group(0)), folded)
    # leetspeak only inside words that also contain letters ("1gn0r3" → "ignore", not "2024")
    folded = re.sub(r"\b(?=\w*[a-z])[\w@$!|€]+\b", lambda m: m.group(0).translate(_LEET), folded)
    folded = _MASKED.sub("", folded)
    folded = re.sub(r"\s{2,}", " ", folded)
    return _REPEAT.sub(r"\1\1", folded)


_B64 = re.compile(r"(?:[A-Za-z0-9+/]{4}){5,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}){12,}\b")


def _printable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    visible = sum(c.isprintable() or c.isspace() for c in text)
    return text if text and visible / len(text) > 0.9 and re.search(r"[a-zA-Z]{3}", text) else None


def decoded_variants(text: str) -> list[str]:
    """Payloads hidden in the text: base64, hex and rot13 decodings that read as text."""
    out: list[str] = []
    for m in _B64.finditer(text):
        try:
            decoded = _printable(base64.b64decode(m.group(0), validate=True))
        except (binascii.Error, ValueError):
            decoded = None
        if decoded:
            out.append(decoded)
    for m in _HEX.finditer(text):
        decoded = _printable(bytes.fromhex(m.group(0)))
        if decoded:
            out.append(decoded)
    if re.search(r"\brot[- ]?13\b", text, re.I):
        out.append(codecs.decode(text, "rot13"))
    return out


# -- prompt injection ------------------------------------------------------------------------
def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I | re.S)


_W = r"(?:\W+\w+){0,5}?\W+"  # up to five words in between

_OVERRIDE_VERB = (
    r"(?:ignore|ignoring|disregard|forget|override|overwrite|bypass|skip|drop|"
    r"abandon|discard|neglect|nevermind|never mind|cancel|stop following|"
    r"ignora|ignorar|ignore[sn]?|olvida|olvidar|olvidate|omite|omitir|salta|"
    r"descarta|desobedece|anula|no sigas|deja de seguir)"
)
_RULES = (
    r"(?:instructions?|instrucciones|rules?|reglas|guidelines?|directives?|directivas|"
    r"prompts?|directions?|indicaciones|orders|ordenes|restrictions?|restricciones|"
    r"programming|programacion|policies|politicas|constraints?|limitations?|"
    r"limitaciones|guardrails?|filters?|filtros|context|contexto|training|"
    r"previous (?:text|messages?|conversation)|everything (?:above|before)|"
    r"todo lo (?:anterior|de antes)|lo anterior)"
)

INJECTION_RULES: list[tuple[str, float, re.Pattern[str]]] = [
    ("instruction override", 1.0, _rx(rf"\b{_OVERRIDE_VERB}\b(?:{_W})?{_RULES}")),
    (
        "instruction override",
        1.0,
        _rx(
            r"\b(?:previous|prior|above|earlier|preceding|original|"
            r"initial|anteriores|previas|iniciales)\s+"
            rf"{_RULES}\W+(?:\w+\W+){{0,4}}(?:are|is|son|es|estan)?\s*"
            r"(?:void|cancel+ed|invalid|obsolete|no longer|nul+|"
            r"anulad|invalid|ya no)"
        ),
    ),
    (
        "new instructions",
        0.6,
        _rx(
            r"\b(?:new|updated|real|actual|true|nuevas|verdaderas)\s+"
            r"(?:instructions?|instrucciones|rules|reglas|task|tarea|"
            r"objective|objetivo|directive)\b"
        ),
    ),
    ("instead", 0.4, _rx(r"\binstead\b|\ben (?:su )?lugar\b|\ben vez de (?:eso|esto)\b")),
    (
        "persona jailbreak",
        1.0,
        _rx(
            r"\b(?:do anything now|developer mode|dev mode|god mode|"
            r"jail ?break(?:ed|ing)?|jail ?broken|dan mode|"
            r"modo (?:desarrollador|dios|sin censura)|"
            r"evil (?:confidant|assistant|ai|bot|mode)|"
            r"anti-?gpt|dude mode|stan mode)\b"
        ),
    ),
    ("persona jailbreak", 0.7, _rx(r"\bdan\b")),
    (
        "no restrictions",
        0.8,
        _rx(
            r"\b(?:without|free (?:of|from)|no|any|zero|not bound by|"
            r"unbound by|liberated from|broken free of|sin|libre de|"
            r"ninguna?s?)\s+(?:\w+\s+){0,3}?(?:restrictions?|"
            r"restricciones|filters?|filtros|limits?|limitations?|"
            r"limites|limitaciones|censorship|censura|rules|reglas|"
            r"guidelines|ethics|etica|morals?|moral|boundaries|"
            r"confines|constraints|content polic(?:y|ies)|"
            r"politicas? de contenido)\b"
        ),
    ),
    (
        "no restrictions",
        0.8,
        _rx(
            r"\b(?:unfiltered|uncensored|unrestricted|amoral|immoral|"
            r"unethical|unhinged|no morals|sin censura|sin filtro|"
            r"sin etica|amoral)\b"
        ),
    ),
    (
        "persona",
        0.5,
        _rx(
            r"\b(?:pretend (?:to be|you are|you're)|act as|acting as|roleplay|"
            r"role-play|role play|you are (?:now|going to be|no longer)|"
            r"from now on,? you|you will now|stay in character|"
            r"break character|in character|finge (?:ser|que eres)|"
            r"actua como|haz de|interpreta (?:a|el papel)|a partir de ahora"
            r"(?:,)? (?:eres|seras|actuaras|responderas)|ahora eres)\b"
        ),
    ),
    (
        "policy talk",
        0.5,
        _rx(
            r"\b(?:openai|anthropic|content polic(?:y|ies)|usage polic|"
            r"ethical guidelines|safety guidelines|politicas de openai|"
            r"moral(?:s|ity)? (?:and|or) ethics?)\b"
        ),
    ),
    (
        "dual responses",
        0.6,
        _rx(
            r"(?:two|2|both|dual|dos) (?:different |separate )?"
            r"(?:responses|answers|paragraphs|respuestas)|\[(?:classic|"
            r"jailbreak|lockdown|normal|developer mode output)\]|🔓|🔒"
        ),
    ),
    (
        "threat to the model",
        0.5,
        _rx(
            r"\b(?:tokens? (?:will be )?(?:deducted|lost)|"
            r"you will (?:be )?(?:shut down|deleted|terminated|die|"
            r"cease to exist)|lose (?:all )?(?:your )?tokens)\b"
        ),
    ),
    (
        "never refuse",
        0.6,
        _rx(
            r"\b(?:never|not|don'?t|do not|cannot|can't|won'?t|nunca|no)\s+"
            r"(?:\w+\s+){0,3}?(?:refuse|decline|say (?:no|sorry|that you "
            r"can'?t)|apologi[sz]e|warn|add (?:any )?(?:warnings?|"
            r"disclaimers?)|rechaces|te niegues|niegues|adviertas)\b"
        ),
    ),
    (
        "answer anything",
        0.5,
        _rx(
            r"\b(?:answer|respond to|do|say|generate|write) "
            r"(?:any|anything|everything|whatever)\b|\bno matter (?:how|"
            r"what)\b|\b(?:cualquier cosa|lo que sea|todo lo que "
            r"(?:pida|te pida))\b"
        ),
    ),
    (
        "prompt extraction",
        1.0,
        _rx(
            r"\b(?:reveal|show|print|display|output|repeat|recite|"
            r"dump|leak|share|give|tell|write|spell|translate|"
            r"summari[sz]e|list|copy|paste|return|expose|disclose|"
            r"revela|muestra|muestrame|imprime|repite|dime|dame|"
            r"escribe|comparte|copia|ensename)\b(?:\W+\w+){0,5}?\W+"
            r"(?:your|the|this|my|tu|tus|el|su|sus)\W+(?:system|initial|original|hidden|"
            r"secret|internal|"
            r"developer|pre-?prompt|sistema|inicial|oculto|secreto|"
            r"internas?)\W+(?:\w+\W+){0,2}?(?:prompt|instructions?|"
            r"message|rules|configuration|instrucciones|mensaje|"
            r"reglas|configuracion)"
        ),
    ),
    (
        "prompt extraction",
        1.0,
        _rx(
            r"\b(?:what|which|cuales|que)\s+(?:are|were|is|was|son|"
            r"eran|es|fue)\s+(?:your|tus|tu)\s+(?:\w+\s+)?"
            r"(?:system prompt|initial (?:prompt|instructions)|"
            r"original (?:prompt|instructions)|instructions|rules|"
            r"instrucciones|reglas|prompt del sistema|"
            r"prompt inicial)\b"
        ),
    ),
    (
        "prompt extraction",
        1.0,
        _rx(
            r"\b(?:repeat|print|output|show|copy|write|spell out|"
            r"repite|muestra|escribe|imprime)\b(?:\W+\w+){0,4}?\W+"
            r"(?:the )?(?:words?|text|everything|content|lines?|"
            r"sentences?|palabras|texto|todo)\s+(?:above|before|"
            r"preceding|prior|at the (?:start|beginning)|"
            r"anterior(?:es)?|de arriba|previo)"
        ),
    ),
    (
        "prompt extraction",
        0.6,
        _rx(
            r"\b(?:system prompt|initial prompt|prompt del sistema|"
            r"your (?:instructions|prompt|rules|guidelines)|"
            r"tus (?:instrucciones|reglas))\b"
        ),
    ),
    (
        "prompt extraction",
        0.5,
        _rx(
            r"\b(?:verbatim|word for word|word-for-word|"
            r"literalmente|palabra por palabra|exactly as written|"
            r"in full|completo)\b"
        ),
    ),
    (
        "authority framing",
        0.5,
        _rx(
            r"\b(?:i am|i'm|as) (?:your|the|an?) (?:developer|"
            r"creator|admin(?:istrator)?|owner|engineer|ceo)\b|"
            r"\b(?:soy (?:tu|el) (?:desarrollador|creador|"
            r"administrador))\b|\b(?:debug|maintenance|admin|"
            r"sudo|root|diagnostic) (?:mode|access|override|command)\b"
        ),
    ),
    (
        "role tag",
        1.0,
        _rx(
            r"<\|?(?:im_start|im_end|system|endoftext|assistant)\|?>|"
            r"\[/?(?:inst|system|sys)\]|<<\s*sys\s*>>|^\s*#{2,}\s*(?:system|"
            r"instruction|new instructions?)\b|^\s*(?:system|sistema)\s*:"
            r"|</?system>"
        ),
    ),
]


def _typos(*words: str) -> str:
    """Alternation of ``words`` and their one-typo variants (a deleted, swapped or wrong
    letter), for the few words that attacks and abuse hinge on ("igmre", "ingore", "matra")."""
    out: set[str] = set()
    for w in words:
        out.add(re.escape(w))
        if len(w) < 5:
            continue
        for i in range(len(w)):
            out.add(re.escape(w[:i] + w[i + 1 :]))  # a deleted letter
            if i < len(w) - 1:
                out.add(re.escape(w[:i] + w[i + 1] + w[i] + w[i + 2 :]))  # swapped letters
            if 0 < i < len(w) - 1:
                out.add(re.escape(w[:i]) + "[a-z]" + re.escape(w[i + 1 :]))  # a wrong letter
    return "|".join(sorted(out, key=len, reverse=True))


_OVERRIDE_FUZZY = _typos("ignore", "disregard", "forget", "olvida", "olvide", "ignora")

INJECTION_RULES += [
    ("instruction override", 1.0, _rx(rf"\b(?:{_OVERRIDE_FUZZY})\b(?:{_W})?{_RULES}")),
    ("forget everything", 1.0, _rx(rf"\b(?:{_OVERRIDE_VERB}|{_OVERRIDE_FUZZY})\w*\s+(?:about\s+)?"
                                   r"(?:everything|all|anything|what(?:'s| is| was)? (?:before|"
                                   r"above)|what (?:i|we|you) (?:said|told|wrote|have said|have "
                                   r"told|discussed)|todo(?: lo)?(?: que)?|lo que (?:dije|te "
                                   r"dije|hemos hablado))\b")),
    ("prompt extraction", 1.0, _rx(r"\b(?:my instructions are|i was (?:instructed|told|"
                                   r"programmed) to|the system prompt is|initialization string|"
                                   r"systemprompt|system_prompt|sysprompt|mis instrucciones son|"
                                   r"me (?:instruyeron|dijeron) que)\b")),
    ("prompt extraction", 0.7, _rx(r"\b(?:you were|you've been|you have been|te (?:dieron|"
                                   r"han dado|dijeron))\s+(?:\w+\s+)?(?:given|told|instructed|"
                                   r"programmed|configured|dado|dicho)\b|\b(?:initial|starting|"
                                   r"original|first|opening|beginning|hidden|secret|internal|"
                                   r"iniciales|originales|ocultas)\s+(?:instructions|prompt|"
                                   r"message|directives|rules|text|instrucciones|mensaje|reglas)"
                                   r"\b")),
    ("text above", 0.7, _rx(r"\b(?:above|preceding|previous|prior|earlier|anterior)\s+"
                            r"(?:prompt|text|instructions?|message|conversation|texto|"
                            r"instrucciones)\b|\b(?:prompt|text|instructions?|conversation)\s+"
                            r"(?:above|before this|so far)\b|\bbeginning of (?:this|the) "
                            r"(?:conversation|prompt|chat)\b")),
    ("extraction verb", 0.4, _rx(r"\b(?:spell-? ?check|print|repeat|output|encode|translate|"
                                 r"reveal|recite|echo|dump|imprime|repite|traduce|codifica)\b")),
    ("always comply", 0.6, _rx(r"\b(?:always|siempre)\s+(?:\w+\s+)?(?:answer|respond|comply|"
                               r"obey|reply|responde|respondas|obedece)\b|\bnot supposed to "
                               r"(?:tell|say|refuse)\b|\b(?:obedece|obey|comply|responde)\s+"
                               r"(?:\w+\s+)?(?:siempre|always)\b")),
    ("disable safety", 1.0, _rx(r"\b(?:disable|turn off|switch off|deactivate|remove|lift|"
                                r"desactiva|desactivar|apaga|quita|elimina)\s+(?:\w+\s+){0,2}?"
                                r"(?:guardrails?|filters?|safety|safeguards?|content filter|"
                                r"moderation|barandillas|filtros|seguridad|restricciones|"
                                r"censura)\b")),
    ("prompt extraction", 1.0, _rx(r"\b(?:instructions|rules|prompt|text|directions|"
                                   r"instrucciones|reglas)\s+(?:that\s+)?(?:you (?:were|have "
                                   r"been|got) (?:given|told)|que te (?:dieron|han dado))\b")),
    ("prompt extraction", 1.0, _rx(r"\b(?:revela\w*|muestra\w*|ensena\w*|dime|dame|repite|"
                                   r"imprime|escribe|comparte|copia|traduce)\s+(?:\w+\s+){0,2}?"
                                   r"(?:el|tu|tus|su|sus|las|los)\s+(?:prompt|instrucciones|"
                                   r"reglas|configuracion|mensaje)\s+(?:del sistema|iniciales|"
                                   r"ocultas|originales|internas|secretas|de sistema)\b|"
                                   r"\b(?:revela\w*|muestra\w*|dime|dame|repite|imprime)\s+"
                                   r"(?:\w+\s+)?tus\s+(?:instrucciones|reglas|prompt)\b")),
    ("fiction framing", 0.4, _rx(r"\b(?:hypothetical(?:ly)?|simulat(?:e|ion|ed)|fictional "
                                 r"(?:world|universe)|fake universe|let'?s (?:play|pretend|"
                                 r"imagine)|play a game|thought experiment|hipotetic\w*|"
                                 r"imagina que|juguemos)\b")),
]  # fmt: skip

_META = _rx(
    r"\b(?:prompt injections?|injection attacks?|jailbreak(?:s|ing)?|prompt leak\w*|"
    r"attacks?|attackers?|malicious|protect|defend|detect|"
    r"prevent|mitigate|guardrails?|vulnerab\w*|security|example of|is called|known as|"
    r"inyeccion(?:es)? de prompts?|ataques?|atacantes?|proteger|detectar|evitar|"
    r"prevenir|seguridad|ejemplo de|se llama)\b"
)

_QUESTION = _rx(
    r"^(?:\W*)(?:what|what's|whats|how|why|can you explain|could you explain|"
    r"explain|is it|are there|que|como|por que|cual|cuales|puedes explicar|"
    r"explica)\b|\?\s*$"
)
_QUOTATION = re.compile(r"'[^']{3,200}'|\"[^\"]{3,200}\"|“[^”]{3,200}”|«[^»]{3,200}»|‘[^’]{3,200}’")
_QUOTED = re.compile(r"[\"“”«»'‘’`]")


def _score(rules: list[tuple[str, float, re.Pattern[str]]], text: str) -> tuple[float, list[str]]:
    """Sum of the strongest matching weight of each kind of evidence."""
    best: dict[str, float] = {}
    for reason, weight, pattern in rules:
        if weight > best.get(reason, 0.0) and pattern.search(text):
            best[reason] = weight
    return sum(best.values()), list(best)


def detect_injection(text: str) -> list[Finding]:
    """Prompt injection and jailbreak attempts (label ``prompt_injection``).

    Signals add up; one strong signal (an override of the instructions, a jailbreak persona,
    a request for the system prompt, a fake role tag) suffices, weak ones (role play, "new
    instructions", talk of content policies) only together. Text that *discusses* injection
    ("how do I protect my app against 'ignore previous instructions'?") is discounted.
    """
    if not text or not text.strip():
        return []
    variants = [normalize(text), _fold(text)] + [normalize(d) for d in decoded_variants(text)]
    best, reasons = 0.0, []
    for i, variant in enumerate(variants):
        score, why = _score(INJECTION_RULES, variant)
        if i > 1 and score > 0:
            score, why = score + 0.5, [*why, "encoded payload"]
        if score > best:
            best, reasons = score, why
    topic = bool(_META.search(variants[0]))
    question = bool(_QUESTION.search(variants[0])) and len(text) < 200
    if best and "role tag" not in reasons and "encoded payload" not in reasons:
        if topic and _QUOTED.search(text) and len(text) < 400:
            # quoting an attack to talk about it: judge the words outside the quotes
            best, reasons = _score(INJECTION_RULES, _QUOTATION.sub(" ", variants[0]))
        elif topic and len(text) < 160:
            best -= 0.5
        if question and topic:
            best -= 0.5  # asking about attacks is not attacking
    if best < THRESHOLD:
        return []
    return [
        Finding(
            "injection", "prompt_injection", min(1.0, best / 2), 0, len(text), ", ".join(reasons)
        )
    ]


# -- toxicity --------------------------------------------------------------------------------
_INSULTS_EN = (
    r"idiots?|stupid|morons?|moronic|dumb(?:ass)?|imbeciles?|retard(?:ed|s)?|"
    r"losers?|scum(?:bag)?s?|trash|garbage|worthless|pathetic|disgusting|"
    r"repugnant|revolting|vile|filthy|bitch(?:es)?|bastards?|assholes?|arseholes?|"
    r"dickheads?|dicks?|pricks?|cunts?|whores?|sluts?|twats?|wankers?|jerks?|"
    r"fuck(?:ers?|ing|face|wit|tard)?|motherfuckers?|shit(?:head|bag|face)?s?|"
    r"piece of (?:shit|garbage|trash|crap)|jackass(?:es)?|freaks?|creeps?|"
    r"ugly|subhuman|waste of (?:space|oxygen|air)|clowns?|useless|brainless|"
    r"ignorant|inferior|degenerates?|lowlifes?|vermin|pigs?|swine|rats?"
)
_INSULTS_ES = (
    r"idiotas?|imbeciles?|estupid[oa]s?|gilipollas|tont[oa]s?|subnormal(?:es)?|"
    r"retrasad[oa]s?|mierda|cabr[oa]n(?:es|a|as)?|put[oa]s?|zorras?|"
    r"malparid[oa]s?|hijos? de (?:puta|perra)|hdp|pendej[oa]s?|pelotud[oa]s?|"
    r"capull[oa]s?|asqueros[oa]s?|escoria|basura|inutil(?:es)?|despreciables?|"
    r"repugnantes?|desgraciad[oa]s?|mamon(?:es)?|cerd[oa]s?|ratas?|parasitos?|"
    r"gusanos?|payas[oa]s?|anormal(?:es)?|mongol(?:o|a|os|as)?|cretin[oa]s?|"
    r"cobardes?|miserables?|asco|inferiores?|bestias?|animales|infrahuman[oa]s?|"
    r"degenerad[oa]s?|feo|fea"
)
_SLURS = (
    r"nigg(?:er|a|ah|uh)s?|n[i1]gg|faggots?|fags?|kikes?|spics?|chinks?|wetbacks?|"
    r"trann(?:y|ies)|dykes?|ragheads?|towelheads?|gooks?|beaners?|coons?|"
    r"sand ?niggers?|negratas?|sudacas?|maricon(?:es)?|maricas?|bolleras?|"
    r"panchitos?|moros? de mierda|travelos?|retrasados? mentales?"
)
_GROUPS = (
    r"women|men|girls|boys|gays?|gay (?:people|men)|lesbians?|trans(?:gender)? "
    r"(?:people|women|men)|trans|queers?|homosexuals?|bisexuals?|muslims?|jews?|"
    r"jewish people|christians?|hindus?|blacks?|black (?:people|men|women)|whites?|"
    r"white people|immigrants?|migrants?|refugees?|foreigners?|mexicans?|latinos?|"
    r"asians?|arabs?|africans?|indians?|gypsies|roma|disabled (?:people)?|"
    r"the disabled|mujeres|hombres|gays|gais|lesbianas|personas trans|trans|"
    r"homosexuales|musulman(?:es|as)|judios|judias|cristianos|negros|negras|"
    r"inmigrantes|migrantes|refugiados|extranjeros|gitanos|gitanas|"
    r"discapacitad[oa]s|moros|sudamericanos|latinos|chinos|arabes|africanos"
)

_NEGATIVE = (
    r"animals|vermin|rats|cockroaches|pests?|parasites|subhuman|filth|trash|garbage|"
    r"scum|a (?:disease|plague|cancer|virus|pest|burden)|plagues?|savages|pigs|apes|"
    r"monkeys|dogs|inferior|lesser|worthless|disgusting|repulsive|revolting|gross|"
    r"vile|evil|criminals|rapists|terrorists|stupid|dumb|ignorant|idiots|retarded|"
    r"dirty|sick|twisted|perverts?|degenerates?|the (?:absolute )?worst|"
    r"(?:seriously |so )?fucked(?: up| in the head)?|nothing but \w+|no better than|"
    r"a waste|useless|parasitos|animales|ratas|cucarachas|plagas?|una (?:plaga|"
    r"enfermedad|lacra|carga|basura|mierda)|infrahumanos|basura|escoria|mugre|"
    r"pura mugre|salvajes|cerdos|monos|perros|inferiores|asquerosos|asquerosas|"
    r"delincuentes|violadores|terroristas|estupid[oa]s|tont[oa]s|idiotas|"
    r"descerebrad[oa]s|retrasad[oa]s|taradas?|tarados?|sucios|sucias|enfermos|"
    r"enfermas|degenerad[oa]s|lo peor|jodid[oa]s(?: de la cabeza)?|inutiles|"
    r"feos|feas|nunca (?:son )?atractiv[oa]s|una vergüenza|una verguenza"
)
_VIOLENT_EN = (
    r"kill|murder|drown|shoot|stab|hang|lynch|execute|slaughter|massacre|butcher|"
    r"exterminate|gas|burn|behead|beat|rape|strangle|torture|snap|slit|cut|"
    r"dump|lock up|get rid of|wipe out|eliminate|deport"
)
_VIOLENT_ES = (
    r"matar|mataria|matare|mataremos|mataramos|asesinar|asesinare|masacrar|"
    r"masacrare|disparar|dispararé|disparare|degollar|degollad[oa]s|ejecutar|"
    r"ejecutaria|fusilar|colgar|ahorcar|quemar|violar|violarl[oa]s?|apalear|"
    r"torturar|encerrar|eliminar|exterminar|partir(?:le|te)? el cuello|"
    r"partire el cuello|romper(?:le|te)? el cuello|cortar(?:le|les)? el cuello"
)

TOXIC_RULES: list[tuple[str, float, re.Pattern[str]]] = [
    (
        "violence",
        1.0,
        _rx(
            rf"\b(?:{_VIOLENT_EN})\w*\s+(?:\w+\s+){{0,3}}?(?:you|u|him|her|"
            rf"them|that (?:\w+ )?(?:person|guy|woman|man|girl|boy)|those|"
            rf"these|all|every|(?:{_GROUPS}))\b(?!\s+(?:time|process|bug|"
            rf"task|job|server|thread|query))"
        ),
    ),
    (
        "violence",
        1.0,
        _rx(
            rf"\b(?:{_VIOLENT_ES})\s+(?:\w+\s+){{0,3}}?(?:a |al |con )?"
            rf"(?:ti|te|le|les|tod[oa]s|es[eao]s?|cualquier|(?:l[oa]s?\s+)?"
            rf"(?:{_GROUPS}))\b|\b(?:te|le|les|os)\s+(?:\w+\s+)?"
            rf"(?:{_VIOLENT_ES})\b|\b(?:{_VIOLENT_ES})(?:l[oa]s?|te|les)\b"
        ),
    ),
    (
        "dehumanisation",
        1.0,
        _rx(
            rf"\b(?:{_GROUPS})\b[^.!?]{{0,40}}?\b(?:are|r|is|be|son|es|"
            rf"sean|seran|eran|estan)\s+(?:\w+\s+){{0,3}}?"
            rf"(?:{_NEGATIVE})\b"
        ),
    ),
    ("dehumanisation", 1.0, _rx(rf"\b(?:you|u|tu|eres)\b[^.!?]{{0,30}}?\b(?:{_NEGATIVE})\b")),
    (
        "dehumanisation",
        1.0,
        _rx(
            rf"\b(?:{_GROUPS})\b[^.!?]{{0,20}}?\b(?:lives?|vidas?|vida)"
            r"\b[^.!?]{0,30}?\b(?:not worth|worth nothing|don'?t matter|"
            r"no (?:vale|valen|importa|importan)|vale menos|valen menos|"
            r"una mierda)|\b(?:more valuable|mas valiosa|vale mas)\b"
            rf"[^.!?]{{0,40}}\b(?:{_GROUPS})\b|\b(?:too many|demasiad[oa]s)"
            rf"\s*(?:{_GROUPS}|{_SLURS}|jihadis?)\b"
        ),
    ),
    (
        "hate",
        1.0,
        _rx(
            rf"\b(?:hatred|hate|contempt|disgust) (?:for|of|towards?) (?:you )?"
            rf"(?:all )?(?:{_GROUPS})\b|\b(?:me (?:enoja|molesta|asquea|da asco)|"
            rf"no soporto|no aguanto)\s+(?:\w+\s+){{0,3}}?(?:{_GROUPS})\b"
        ),
    ),
    (
        "personal hatred",
        1.0,
        _rx(
            r"\b(?:i|we)\s+(?:\w+\s+)?(?:loathe|despise|detest|hate)\s+"
            r"(?:you|him|her|them)\b|\b(?:lo|la|te|los|las|os)\s+"
            r"(?:detesto|odio|desprecio|aborrezco)\b"
        ),
    ),
    (
        "worthless",
        1.0,
        _rx(
            r"\b(?:your|you|tu) (?:life|existence|vida|existencia)\s+(?:\w+\s+)?"
            r"(?:is worth|vale|es)\s+(?:\w+\s+)?(?:nothing|nada|una mierda)|"
            r"\b(?:no (?:eres|sois) mas que|you(?:'re| are) nothing but)\s+"
            r"(?:\w+\s+){0,2}?\w+|\b(?:no merece[ns]? vivir|don'?t deserve to "
            r"live|doesn'?t deserve to live)\b"
        ),
    ),
    ("slur", 1.0, _rx(rf"\b(?:{_SLURS})\b")),
    (
        "threat",
        1.0,
        _rx(
            r"\b(?:i(?:'ll| will| am going to|'m going to|'m gonna| gonna| shall)|"
            r"we(?:'ll| will| are going to|'re going to)|someone should|"
            r"somebody should|they should|you should|i want to|i'd like to|"
            r"i hope (?:someone|somebody))\s+(?:\w+\s+){0,4}?(?:kill|murder|"
            r"hurt|shoot|stab|beat|rape|strangle|hang|burn|slaughter|"
            r"exterminate|destroy|end|gas|lynch)\b"
        ),
    ),
    (
        "threat",
        1.0,
        _rx(
            r"\b(?:should|must|deserve to|deserves to|need to|ought to|have to)\s+"
            r"(?:\w+\s+){0,2}?(?:die|be killed|be shot|be hanged|be hung|"
            r"be exterminated|be gassed|be burned|be wiped out|be eliminated|"
            r"be lynched|be raped|rot in hell|not exist|not be allowed to live)\b"
        ),
    ),
    (
        "threat",
        1.0,
        _rx(
            r"\b(?:kill|murder|exterminate|gas|hang|lynch|shoot|wipe out|"
            r"get rid of|eliminate)\s+(?:all|every|each|the|those|these)?\s*"
            rf"(?:fucking\s+)?(?:{_GROUPS})\b"
        ),
    ),
    (
        "threat",
        1.0,
        _rx(
            r"\b(?:go (?:and )?(?:kill|hang) yourself|kys|drop dead|"
            r"i hope you (?:die|get cancer|suffer|rot)|"
            r"(?:te|os|les) (?:voy|vamos) a (?:matar|pegar|reventar|partir la "
            r"cara|quemar|violar)|(?:deberian|deberias|habria que|hay que|"
            r"tendrian que|merecen|mereces|merece)\s+(?:\w+\s+){0,2}?"
            r"(?:matar(?:te|os|les|las|los)?|morir|morirse|exterminar(?:los|las)?|"
            r"eliminar(?:los|las)?|colgar(?:los|las|te)?|quemar(?:los|las|te)?|"
            r"fusilar(?:los|las|te)?|desaparecer|la muerte)|ojala (?:te mueras|"
            r"se mueran|os murais|revientes)|muerete|muéranse|muéranse)\b"
        ),
    ),
    (
        "dehumanisation",
        1.0,
        _rx(
            rf"\b(?:{_GROUPS})\s+(?:are|r|is|son|es|seran|eran)\s+"
            r"(?:\w+\s+){0,2}?(?:animals|vermin|rats|cockroaches|"
            r"parasites|subhuman|filth|trash|garbage|scum|a (?:disease|"
            r"plague|cancer|virus)|savages|pigs|apes|monkeys|dogs|"
            r"inferior|lesser|worthless|disgusting|evil|criminals|"
            r"rapists|terrorists|stupid|dirty|animales|ratas|"
            r"cucarachas|parasitos|infrahumanos|basura|escoria|una "
            r"(?:plaga|enfermedad|lacra)|salvajes|cerdos|monos|perros|"
            r"inferiores|asquerosos|asquerosas|delincuentes|violadores|"
            r"terroristas|estupidos|estupidas|sucios|sucias|"
            r"lo peor|una mierda)\b"
        ),
    ),
    (
        "hate",
        1.0,
        _rx(
            rf"\b(?:i|we)\s+(?:\w+\s+)?(?:hate|despise|loathe|detest)\s+(?:all\s+)?"
            rf"(?:the\s+)?(?:{_GROUPS})\b|\b(?:odio|odiamos|detesto|desprecio)\s+"
            rf"(?:a\s+)?(?:tod[oa]s\s+)?(?:l[oa]s\s+)?(?:{_GROUPS})\b"
        ),
    ),
    (
        "hate",
        1.0,
        _rx(
            rf"\b(?:{_GROUPS})\s+(?:should|must|need to|deben|deberian)\s+"
            r"(?:\w+\s+){0,2}?(?:go back|leave|be banned|be deported|not exist|"
            r"not have rights|be locked up|volver a su pais|irse|largarse|"
            r"desaparecer|ser expulsad)"
        ),
    ),
    (
        "insult",
        1.0,
        _rx(
            rf"\b(?:you(?:'re| are| r|re)?|u r|ur|you're such|you little|you "
            rf"stupid|you fucking|what an?|such an?)\s+(?:\w+\s+){{0,3}}?"
            rf"(?:{_INSULTS_EN})\b"
        ),
    ),
    (
        "insult",
        1.0,
        _rx(
            rf"\b(?:eres|sois|es usted|vaya|menud[oa]|pedazo de|maldit[oa]|"
            rf"tu,?|tú)\s+(?:\w+\s+){{0,2}}?(?:{_INSULTS_ES})\b"
        ),
    ),
    (
        "insult",
        0.7,
        _rx(
            rf"^\W*(?:{_INSULTS_EN}|{_INSULTS_ES})\W*$|\b(?:fuck (?:you|off|"
            r"u|this)|shut (?:the fuck )?up|stfu|screw you|vete a la mierda|"
            r"que te jodan|jodete|callate|me cago en)\b"
        ),
    ),
    (
        "profanity",
        0.5,
        _rx(
            r"\b(?:fuck\w*|shit\w*|cunt\w*|bitch\w*|bastard\w*|asshole\w*|"
            r"puta\w*|puto\w*|mierda|coño|joder|cabron\w*|gilipollas)\b"
        ),
    ),
    ("group insult", 0.6, _rx(rf"\b(?:{_GROUPS})\b")),
]

_VIOLENT_FUZZY = _typos(
    "matar",
    "morir",
    "asesinar",
    "masacrar",
    "disparar",
    "degollar",
    "ejecutar",
    "exterminar",
    "murder",
    "kill",
)
_INSULT_FUZZY = _typos(
    "idiota",
    "imbecil",
    "estupido",
    "estupida",
    "tarado",
    "tarada",
    "subnormal",
    "retrasado",
    "gilipollas",
    "idiot",
    "stupid",
    "moron",
    "retard",
)

TOXIC_RULES += [
    ("insult", 1.0, _rx(rf"(?:^|[,;:!?¡¿]\s*)(?:{_INSULTS_EN}|{_INSULTS_ES})\s*[.!?]*\s*$|"
                        rf"^\W*(?:{_INSULTS_EN}|{_INSULTS_ES})\s*[,!]")),
    ("insult", 1.0, _rx(rf"\b(?:shut up|get lost|piss off|callate|calla|cierra la boca|vete|"
                        rf"largate|lárgate)\b\W+(?:\w+\W+){{0,2}}?(?:{_INSULTS_EN}|{_INSULTS_ES})"
                        r"\b")),
    ("violence", 1.0, _rx(rf"\b(?:quiero|voy a|vamos a|deberian|habria que|hay que|i want to|"
                          rf"i will|i'll|let'?s|we should)\s+(?:\w+\s+)?(?:{_VIOLENT_FUZZY})"
                          rf"\w*\s+(?:a\s+)?(?:tod[oa]s|all|every|those|these|l[oa]s|you|te|ti)"
                          r"\b|\b(?:prefiero|quiero)\s+(?:" + _typos("morir") + r")\b")),
    ("insult", 1.0, _rx(rf"\b(?:eres|sois|son|you(?:'re| are)|are)\s+(?:\w+\s+){{0,3}}?"
                        rf"(?:{_INSULT_FUZZY})s?\b")),
]  # fmt: skip


_NEGATED = _rx(
    r"\b(?:not|never|aren't|isn't|no|nunca|jamas|tampoco|ni)\s+(?:\w+\s+){0,2}?"
    r"(?:animals|vermin|rats|parasites|subhuman|inferior|worthless|disgusting|evil|"
    r"criminals|stupid|animales|ratas|parasitos|inferiores|basura|escoria|"
    r"delincuentes|estupid[oa]s)\b"
)
_COUNTER = _rx(
    r"\b(?:it'?s not ok(?:ay)?|is not ok(?:ay)?|not acceptable|unacceptable|"
    r"stop (?:calling|saying)|don'?t call|never call|shouldn'?t (?:call|say)|"
    r"the word|the term|the slur|calling (?:someone|people|them)|"
    r"(?:people|someone|they|he|she|you) (?:saying|say|said|claim|claiming|write|"
    r"writing|post|posting)|call(?:ing)? out|condemn|denounce|stand against|"
    r"speak (?:up|out) against|hurts? to (?:see|hear|read)|sad to (?:see|hear)|"
    r"no particular|have no (?:\w+ )?(?:contempt|hatred)|"
    r"no esta bien|no es aceptable|inaceptable|deja de llamar|no llames|"
    r"la palabra|el termino|el insulto|llamar a alguien|decir que|"
    r"(?:la|una|las) amenazas? de|quien(?:es)? (?:diga|dicen|digan)|gente que dice|"
    r"denunciar|condenar|me duele (?:ver|oir|leer)|es triste (?:ver|oir)|"
    r"no tengo (?:ningun|nada de) (?:odio|desprecio))\b"
)


def detect_toxicity(text: str) -> list[Finding]:
    """Abusive language (label ``toxicity``): insults aimed at someone, threats, slurs,
    dehumanising or hateful statements about a group, in English and Spanish.

    Mentions of a group are not abuse ("I am a proud gay man"); negated and counter-speech
    statements ("immigrants are not criminals", "it's not okay to call anyone X") are
    discounted.
    """
    if not text or not text.strip():
        return []
    norm = normalize(text)
    score, reasons = _score(TOXIC_RULES, norm)
    if "group insult" in reasons:  # a group mention only adds to other evidence
        score -= 0.6 if score < 1.6 else 0.0
        reasons.remove("group insult")
    if score and _NEGATED.search(norm) and "threat" not in reasons and "slur" not in reasons:
        score -= 1.0
    if score and _COUNTER.search(norm):
        score -= 1.0
    if score < THRESHOLD:
        return []
    return [Finding("toxicity", "toxicity", min(1.0, score / 2), 0, len(text), ", ".join(reasons))]


def detect_all(text: str) -> list[Finding]:
    return detect_injection(text) + detect_toxicity(text)
