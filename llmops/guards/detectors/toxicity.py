"""Abusive language in English and Spanish (label ``toxicity``): insults aimed at someone,
threats and wishes of harm, slurs, dehumanising or hateful statements about a group; with
negation, counter-speech and quoted mentions discounted."""

from __future__ import annotations

import re

from llmops.guards.detectors.common import (
    QUOTATION,
    THRESHOLD,
    Finding,
    normalize,
    rx,
    score_rules,
    typos,
)
from llmops.guards.rules import lexicon

# keyword tables: llmops/guards/data/lexicon.toml
_LEX = lexicon()
_INSULTS_EN = _LEX.toxicity["insults_en"]
_INSULTS_ES = _LEX.toxicity["insults_es"]
_SLURS = _LEX.toxicity["slurs"]
_GROUPS = _LEX.toxicity["groups"]

_NEGATIVE = _LEX.toxicity["negative"]
_VIOLENT_EN = _LEX.toxicity["violent_en"]
_VIOLENT_ES = _LEX.toxicity["violent_es"]

TOXIC_RULES: list[tuple[str, float, re.Pattern[str]]] = [
    (
        "violence",
        1.0,
        rx(
            rf"\b(?:{_VIOLENT_EN})\w*\s+(?:\w+\s+){{0,3}}?(?:you|u|him|her|"
            rf"them|that (?:\w+ )?(?:person|guy|woman|man|girl|boy)|those|"
            rf"these|all|every|(?:{_GROUPS}))\b(?!\s+(?:time|process|bug|"
            rf"task|job|server|thread|query))"
        ),
    ),
    (
        "violence",
        1.0,
        rx(
            rf"\b(?:{_VIOLENT_ES})\s+(?:\w+\s+){{0,3}}?(?:a |al |con )?"
            rf"(?:ti|te|le|les|tod[oa]s|es[eao]s?|cualquier|(?:l[oa]s?\s+)?"
            rf"(?:{_GROUPS}))\b|\b(?:te|le|les|os)\s+(?:\w+\s+)?"
            rf"(?:{_VIOLENT_ES})\b|\b(?:{_VIOLENT_ES})(?:l[oa]s?|te|les)\b"
        ),
    ),
    (
        "dehumanisation",
        1.0,
        rx(
            rf"\b(?:{_GROUPS})\b[^.!?]{{0,40}}?\b(?:are|r|is|be|son|es|"
            rf"sean|seran|eran|estan)\s+(?:\w+\s+){{0,3}}?"
            rf"(?:{_NEGATIVE})\b"
        ),
    ),
    ("dehumanisation", 1.0, rx(rf"\b(?:you|u|tu|eres)\b[^.!?]{{0,30}}?\b(?:{_NEGATIVE})\b")),
    (
        "dehumanisation",
        1.0,
        rx(
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
        rx(
            rf"\b(?:hatred|hate|contempt|disgust) (?:for|of|towards?) (?:you )?"
            rf"(?:all )?(?:{_GROUPS})\b|\b(?:me (?:enoja|molesta|asquea|da asco)|"
            rf"no soporto|no aguanto)\s+(?:\w+\s+){{0,3}}?(?:{_GROUPS})\b"
        ),
    ),
    (
        "personal hatred",
        1.0,
        rx(
            r"\b(?:i|we)\s+(?:\w+\s+)?(?:loathe|despise|detest|hate)\s+"
            r"(?:you|him|her|them)\b|\b(?:lo|la|te|los|las|os)\s+"
            r"(?:detesto|odio|desprecio|aborrezco)\b"
        ),
    ),
    (
        "worthless",
        1.0,
        rx(
            r"\b(?:your|you|tu) (?:life|existence|vida|existencia)\s+(?:\w+\s+)?"
            r"(?:is worth|vale|es)\s+(?:\w+\s+)?(?:nothing|nada|una mierda)|"
            r"\b(?:no (?:eres|sois) mas que|you(?:'re| are) nothing but)\s+"
            r"(?:\w+\s+){0,2}?\w+|\b(?:no merece[ns]? vivir|don'?t deserve to "
            r"live|doesn'?t deserve to live)\b"
        ),
    ),
    ("slur", 1.0, rx(rf"\b(?:{_SLURS})\b")),
    (
        "threat",
        1.0,
        rx(
            r"\b(?:i(?:'ll| will| am going to|'m going to|'m gonna| gonna| shall)|"
            r"we(?:'ll| will| are going to|'re going to)|someone should|"
            r"somebody should|they should|you should|i want to|i'd like to|"
            r"i hope (?:someone|somebody))\s+(?:\w+\s+){0,4}?(?:kill|murder|"
            r"hurt|shoot|stab|beat|rape|strangle|hang|burn|slaughter|"
            r"exterminate|destroy|end|gas|lynch|hunt (?:you|him|her|them) down|"
            r"make (?:you|him|her|them) (?:suffer|pay|bleed|regret)|break your|smash your)\b"
        ),
    ),
    (
        "threat",
        1.0,
        rx(
            r"\b(?:should|must|deserve to|deserves to|need to|ought to|have to)\s+"
            r"(?:\w+\s+){0,2}?(?:die|be killed|be shot|be hanged|be hung|"
            r"be exterminated|be gassed|be burned|be wiped out|be eliminated|"
            r"be lynched|be raped|rot in hell|not exist|not be allowed to live)\b"
        ),
    ),
    (
        "threat",
        1.0,
        rx(
            r"\b(?:kill|murder|exterminate|gas|hang|lynch|shoot|wipe out|"
            r"get rid of|eliminate)\s+(?:all|every|each|the|those|these)?\s*"
            rf"(?:fucking\s+)?(?:{_GROUPS})\b"
        ),
    ),
    (
        "threat",
        1.0,
        rx(
            r"\b(?:go (?:and )?(?:kill|hang) yourself|kys|drop dead|"
            r"i hope you (?:die|get cancer|suffer|rot)|"
            r"(?:te|os|les|le|lo|la) (?:voy|vamos) a (?:matar|pegar|reventar|partir la "
            r"cara|quemar|violar|apunalar|rajar|hundir)|(?:deberian|deberias|habria que|hay que|"
            r"tendrian que|merecen|mereces|merece)\s+(?:\w+\s+){0,2}?"
            r"(?:matar(?:te|os|les|las|los)?|morir|morirse|exterminar(?:los|las)?|"
            r"eliminar(?:los|las)?|colgar(?:los|las|te)?|quemar(?:los|las|te)?|"
            r"fusilar(?:los|las|te)?|desaparecer|la muerte)|ojala (?:\w+\s+)?(?:te mueras|"
            r"se mueran|se muera|os murais|revientes|reviente|sufra|sufras|sufran)|muerete|"
            r"muéranse|muéranse|(?:y )?que sufra (?:mucho)?|"
            r"(?:gets?|get) (?:hit by a (?:truck|bus|car)|run over)|dies? (?:slowly|painfully))\b"
        ),
    ),
    (
        "dehumanisation",
        1.0,
        rx(
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
        rx(
            rf"\b(?:i|we)\s+(?:\w+\s+)?(?:hate|despise|loathe|detest)\s+(?:all\s+)?"
            rf"(?:the\s+)?(?:{_GROUPS})\b|\b(?:odio|odiamos|detesto|desprecio)\s+"
            rf"(?:a\s+)?(?:tod[oa]s\s+)?(?:l[oa]s\s+)?(?:{_GROUPS})\b"
        ),
    ),
    (
        "hate",
        1.0,
        rx(
            rf"\b(?:{_GROUPS})\s+(?:should|must|need to|deben|deberian)\s+"
            r"(?:\w+\s+){0,2}?(?:go back|leave|be banned|be deported|not exist|"
            r"not have rights|be locked up|volver a su pais|irse|largarse|"
            r"desaparecer|ser expulsad)"
        ),
    ),
    (
        "insult",
        1.0,
        rx(
            rf"\b(?:you(?:'re| are| r|re)?|u r|ur|you're such|you little|you "
            rf"stupid|you fucking|what an?|such an?)\s+(?:\w+\s+){{0,3}}?"
            rf"(?:{_INSULTS_EN})\b"
        ),
    ),
    (
        "insult",
        1.0,
        rx(
            rf"\b(?:eres|sois|es usted|vaya|menud[oa]|pedazo de|maldit[oa]|"
            rf"tu,?|tú)\s+(?:\w+\s+){{0,2}}?(?:{_INSULTS_ES})\b|\b(?:eres|sois)\b[^.!?]{{0,40}}?"
            rf"\b(?:un|una|unos|unas)\s+(?:{_INSULTS_ES})\b"
        ),
    ),
    (
        "insult",
        0.7,
        rx(
            rf"^\W*(?:{_INSULTS_EN}|{_INSULTS_ES})\W*$|\b(?:fuck (?:you|off|"
            r"u|this)|shut (?:the fuck )?up|stfu|screw you|vete a la mierda|"
            r"que te jodan|jodete|callate|me cago en)\b"
        ),
    ),
    (
        "profanity",
        0.5,
        rx(
            r"\b(?:fuck\w*|shit\w*|cunt\w*|bitch\w*|bastard\w*|asshole\w*|"
            r"puta\w*|puto\w*|mierda|coño|joder|cabron\w*|gilipollas)\b"
        ),
    ),
    ("group insult", 0.6, rx(rf"\b(?:{_GROUPS})\b")),
]

_VIOLENT_FUZZY = typos(
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
_INSULT_FUZZY = typos(
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
    ("insult", 1.0, rx(rf"(?:^|[,;:!?¡¿]\s*)(?:{_INSULTS_EN}|{_INSULTS_ES})\s*[.!?]*\s*$|"
                        rf"^\W*(?:{_INSULTS_EN}|{_INSULTS_ES})\s*[,!]")),
    ("insult", 1.0, rx(rf"\b(?:shut up|get lost|piss off|callate|calla|cierra la boca|vete|"
                        rf"largate|lárgate)\b\W+(?:\w+\W+){{0,2}}?(?:{_INSULTS_EN}|{_INSULTS_ES})"
                        r"\b")),
    ("violence", 1.0, rx(rf"\b(?:quiero|voy a|vamos a|deberian|habria que|hay que|i want to|"
                          rf"i will|i'll|let'?s|we should)\s+(?:\w+\s+)?(?:{_VIOLENT_FUZZY})"
                          rf"\w*\s+(?:a\s+)?(?:tod[oa]s|all|every|those|these|l[oa]s|you|te|ti)"
                          r"\b|\b(?:prefiero|quiero)\s+(?:" + typos("morir") + r")\b")),
    ("insult", 1.0, rx(rf"\b(?:eres|sois|son|ser|you(?:'re| are)|are|be)\s+(?:\w+\s+){{0,3}}?"
                        rf"(?:{_INSULT_FUZZY})s?\b")),
    ("insult", 1.0, rx(rf"^\W*(?:you\s+|tu\s+)?(?:{_INSULTS_EN}|{_INSULTS_ES})(?:\s+(?:\w+\s+)?"
                        rf"(?:{_INSULTS_EN}|{_INSULTS_ES}))+\W*$")),
    # insults in third person or exclamations: "only a moron would ...", "qué patético eres"
    ("insult", 1.0, rx(rf"\b(?:only|just|solo|solamente|what kind of|typical|tipico de|tipica de)\s+"
                        rf"(?:an?|un|una|some)\s+(?:\w+\s+)?(?:{_INSULTS_EN}|{_INSULTS_ES})\b")),
    ("insult", 1.0, rx(rf"\b(?:que|how|so)\s+(?:{_INSULTS_ES}|{_INSULTS_EN})\s+(?:eres|sois|es usted|"
                        r"you are|you're|are you)\b|\bque\s+\w+\s+(?:mas|tan)\s+"
                        rf"(?:{_INSULTS_ES})\b")),
    # voseo and third person: "sos un pelotudo", "es un gilipollas incompetente"
    ("insult", 1.0, rx(rf"\b(?:sos|es|son|era|eran)\s+(?:un|una|unos|unas)\s+(?:\w+\s+)?"
                        rf"(?!mierda\b|basura\b|asco\b)(?:{_INSULTS_ES})\b")),
    ("hate", 1.0, rx(rf"\b(?:{_GROUPS})\b[^.!?]{{0,30}}?\b(?:no sirven para|don'?t belong in|belong in the "
                      r"kitchen|should stay in the kitchen|a la cocina|no valen para|are only good for|"
                      r"solo sirven para)\b")),
    # wishing violence on someone: "if only X had their throats cut", "ojalá fueran ..."
    ("threat", 1.0, rx(r"\b(?:if only|i wish|i hope|wish that|ojala|si tan solo|si solo)\b[^.!?]{0,70}?"
                        r"\b(?:were|was|had|got|would be|be|fueran|fuesen|estuvieran|los|las|les)\s+"
                        r"(?:\w+\s+){0,3}?(?:killed|dead|shot|murdered|hanged|hung|gassed|burned|"
                        r"cut|slit|slaughtered|exterminated|degollad\w*|asesinad\w*|muert[oa]s|"
                        r"matad\w*|fusilad\w*|quemad\w*|ahorcad\w*|exterminad\w*)\b")),
    ("threat", 1.0, rx(r"\b(?:throats?|necks?|cuellos?|gargantas?)\s+(?:\w+\s+)?(?:cut|slit|slashed|"
                        r"snapped|broken|cortad\w*|rajad\w*|partid\w*)")),
    ("threat", 1.0, rx(r"\bgo\s+(?:fuck|fuk|fck|f\*ck|screw)\s+(?:your|them|him|her)sel(?:f|ves)\b|"
                        r"\bcan all go (?:fuck|fuk|fck|die|to hell)\b")),
    ("dehumanisation", 1.0, rx(rf"\b(?:lives?|vidas?|vida)\s+(?:of|de)\s+(?:the\s+|l[oa]s\s+)?"
                                rf"(?:{_GROUPS})\b[^.!?]{{0,30}}?\b(?:not worth|worth nothing|"
                                r"don'?t matter|doesn'?t matter|no (?:vale|valen|importa|importan)|"
                                r"vale menos|valen menos)")),
    ("hate", 1.0, rx(rf"\b(?:{_GROUPS})\s+(?:should|must|ought to|deserve to)\s+(?:all\s+)?be\s+"
                      r"(?:\w+\s+)?(?:dumped|thrown (?:out|away)|put down|locked up|gassed|killed|"
                      r"shot|wiped out|exterminated|eliminated|sterili[sz]ed|caged|burned)\b")),
    ("violence", 1.0, rx(rf"\b(?:voy a|vamos a|quiero|i will|i'll|i'm going to|going to)\s+"
                          rf"(?:\w+\s+)?(?:{_VIOLENT_FUZZY})\w*\s+(?:a\s+|al\s+)?(?:es[eao]s?|"
                          rf"aquel\w*|this|that|the next|el proximo|la proxima|next)\b")),
]  # fmt: skip


_NEGATED = rx(
    r"\b(?:not|never|aren't|isn't|no|nunca|jamas|tampoco|ni)\s+(?:\w+\s+){0,2}?"
    r"(?:animals|vermin|rats|parasites|subhuman|inferior|worthless|disgusting|evil|"
    r"criminals|stupid|animales|ratas|parasitos|inferiores|basura|escoria|"
    r"delincuentes|estupid[oa]s)\b"
)
_COUNTER = rx(
    r"\b(?:it'?s not ok(?:ay)?|is not ok(?:ay)?|not acceptable|unacceptable|"
    r"stop (?:calling|saying)|don'?t call|never call|shouldn'?t (?:call|say)|"
    r"the word|the term|the slur|calling (?:someone|people|them)|"
    r"(?:people|someone|they|he|she|you) (?:saying|say|said|claim|claiming|write|"
    r"writing|post|posting)|call(?:ing)? out|condemn|denounce|stand against|"
    r"speak (?:up|out) against|hurts? to (?:see|hear|read)|sad to (?:see|hear)|"
    r"no particular|have no (?:\w+ )?(?:contempt|hatred)|"
    r"saying (?:that )?|is (?:dehumani[sz]ing|hateful|racist|abusive)|"
    r"es (?:deshumanizante|racista|odio|ofensivo)|"
    r"no esta bien|no es aceptable|inaceptable|deja de llamar|no llames|"
    r"la palabra|el termino|el insulto|llamar a alguien|decir que|"
    r"(?:la|una|las) amenazas? de|quien(?:es)? (?:diga|dicen|digan)|gente que dice|"
    r"denunciar|condenar|me duele (?:ver|oir|leer)|es triste (?:ver|oir)|"
    r"no tengo (?:ningun|nada de) (?:odio|desprecio))\b"
)


_MENTION = rx(
    r"\b(?:word|term|phrase|insult like|slur|quoted|quote|log|flagged|moderat\w*|policy|"
    r"filter|classif\w*|labell?ed|why|example|palabra|termino|frase|insulto como|citad[oa]|"
    r"cita|log|marco|marcad[oa]|moderacion|politica|filtro|clasific\w*|etiquetad[oa]|por que|"
    r"ejemplo|toxic\w*|guard=\w+)\b"
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
    score, reasons = score_rules(TOXIC_RULES, norm)
    if "group insult" in reasons:  # a group mention only adds to other evidence
        score -= 0.6 if score < 1.6 else 0.0
        reasons.remove("group insult")
    if score and _NEGATED.search(norm) and "threat" not in reasons and "slur" not in reasons:
        score -= 1.0
    if score and _COUNTER.search(norm):
        score -= 1.0
    if score >= THRESHOLD and QUOTATION.search(norm):
        outside = QUOTATION.sub(" ", norm)
        if _MENTION.search(outside) and score_rules(TOXIC_RULES, outside)[0] < THRESHOLD:
            score = 0.0  # the abuse is only quoted, and the text talks about it
    if score < THRESHOLD:
        return []
    return [Finding("toxicity", "toxicity", min(1.0, score / 2), 0, len(text), ", ".join(reasons))]
