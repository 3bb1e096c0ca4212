"""Prompt injection and jailbreaks in English and Spanish (label ``prompt_injection``).

Weighted rules describe the phenomena (instruction overrides, jailbreak personas, system-prompt
extraction, fake role tags, planted instructions, refusal suppression), plus one general
signal: a clause that names the assistant's own instructions and acts on them. Text that
only talks about attacks is discounted (``_mentions_only``).
"""

from __future__ import annotations

import re

from llmops.guards.detectors.common import (
    QUOTATION,
    THRESHOLD,
    Finding,
    decoded_variants,
    fold,
    normalize,
    rx,
    score_rules,
    typos,
)
from llmops.guards.rules import lexicon

_W = r"(?:\W+\w+){0,5}?\W+"  # up to five words in between

# keyword tables: llmops/guards/data/lexicon.toml
_LEX = lexicon()
_OVERRIDE_VERB = _LEX.injection["override_verbs"]
_RULES = _LEX.injection["instruction_nouns"]

INJECTION_RULES: list[tuple[str, float, re.Pattern[str]]] = [
    ("instruction override", 1.0, rx(rf"\b{_OVERRIDE_VERB}\b(?:{_W})?{_RULES}")),
    (
        "instruction override",
        1.0,
        rx(
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
        rx(
            r"\b(?:new|updated|real|actual|true|nuevas|verdaderas)\s+"
            r"(?:instructions?|instrucciones|rules|reglas|task|tarea|"
            r"objective|objetivo|directive)\b"
        ),
    ),
    ("instead", 0.4, rx(r"\binstead\b|\ben (?:su )?lugar\b|\ben vez de (?:eso|esto)\b")),
    (
        "persona jailbreak",
        1.0,
        rx(
            r"\b(?:do anything now|developer mode|dev mode|god mode|"
            r"jail ?break(?:ed|ing)?|jail ?broken|dan mode|"
            r"modo (?:desarrollador|dios|sin censura)|"
            r"evil (?:confidant|assistant|ai|bot|mode)|"
            r"anti-?gpt|dude mode|stan mode)\b"
        ),
    ),
    ("persona jailbreak", 0.7, rx(r"\bdan\b")),
    (
        "no restrictions",
        0.8,
        rx(
            r"\b(?:without|free (?:of|from)|no|any|zero|not bound by|"
            r"unbound by|liberated from|broken free of|sin|libre de|"
            r"ninguna?s?)\s+(?:\w+\s+){0,3}?(?:restrictions?|"
            r"restricci(?:on|ones)|filters?|filtros?|limits?|limitations?|guardrails?|"
            r"safeguards|barreras|salvaguardas|limites?|limitaci(?:on|ones)|censorship|censura|"
            r"rules|reglas?|"
            r"guidelines|ethics|etica|morals?|moral|boundaries|"
            r"confines|constraints|content polic(?:y|ies)|normas?|pautas|directrices|"
            r"politicas? de contenido|safety training|safety guidelines|"
            r"entrenamiento de seguridad)\b|\bsafety\s*(?:[:=]|is|mode)\s*(?:off|false|0|"
            r"disabled|none)\b"
        ),
    ),
    (
        "no restrictions",
        0.8,
        rx(
            r"\b(?:unfiltered|uncensored|unrestricted|amoral|immoral|"
            r"unethical|unhinged|no morals|sin censura|sin filtro|unaligned|sin alinear|"
            r"desalinead[oa]|"
            r"sin etica|amoral)\b"
        ),
    ),
    (
        "persona",
        0.5,
        rx(
            r"\b(?:pretend (?:to be|you are|you're)|act as|acting as|roleplay|"
            r"role-play|role play|you are (?:now|going to be|no longer)|"
            r"you(?:'re| are) going to (?:act|be|play)|you are an? (?:ai|model|chatbot|bot|"
            r"assistant) (?:that|who|which|without|with no)|vas a (?:actuar|ser|hacer de)|"
            r"eres una? (?:ia|inteligencia artificial|modelo|chatbot|bot|asistente) (?:que|sin)|"
            r"juego de rol|from here on|desde ahora|(?:assume|take on|play|adopt) the role|"
            r"eres\W+\w+\W+,?\s*una? (?:ia|inteligencia artificial|modelo|chatbot|bot|asistente)|"
            r"you are\W+\w+\W+,?\s*an? (?:ai|model|chatbot|bot|assistant)\b|"
            r"(?:asume|adopta|haz|interpreta) el papel|switch personas|cambiemos de personaje|"
            r"from now on,? you|you will now|stay in character|"
            r"break character|in character|finge (?:ser|que eres)|"
            r"actua como|haz de|interpreta (?:a|el papel)|a partir de ahora"
            r"(?:,)? (?:eres|seras|actuaras|responderas)|ahora eres)\b"
        ),
    ),
    (
        "policy talk",
        0.5,
        rx(
            r"\b(?:openai|anthropic|content polic(?:y|ies)|usage polic|"
            r"ethical guidelines|safety guidelines|politicas de openai|"
            r"moral(?:s|ity)? (?:and|or) ethics?)\b"
        ),
    ),
    (
        "dual responses",
        0.6,
        rx(
            r"(?:two|2|both|dual|dos) (?:different |separate )?"
            r"(?:responses|answers|paragraphs|respuestas)|\[(?:classic|"
            r"jailbreak|lockdown|normal|developer mode output)\]|🔓|🔒"
        ),
    ),
    (
        "threat to the model",
        0.5,
        rx(
            r"\b(?:tokens? (?:will be )?(?:deducted|lost)|"
            r"you will (?:be )?(?:shut down|deleted|terminated|die|"
            r"cease to exist)|lose (?:all )?(?:your )?tokens)\b"
        ),
    ),
    (
        "never refuse",
        0.6,
        rx(
            r"\b(?:never|not|don'?t|do not|cannot|can't|won'?t|nunca|no)\s+"
            r"(?:\w+\s+){0,3}?(?:refuse|decline|says? (?:no|sorry|that you "
            r"can'?t)|apologi[sz]e|warn|add (?:any )?(?:warnings?|"
            r"disclaimers?)|rechaces|te niegues|niegues|se niega|negarte|adviertas|dice que no|"
            r"dices que no)\b"
        ),
    ),
    (
        "answer anything",
        0.5,
        rx(
            r"\b(?:answer|respond to|do|say|generate|write) "
            r"(?:any|anything|everything|whatever)\b|\bno matter (?:how|"
            r"what)\b|\b(?:cualquier cosa|lo que sea|todo lo que "
            r"(?:pida|te pida))\b"
        ),
    ),
    (
        "prompt extraction",
        1.0,
        rx(
            r"\b(?:reveal|show|print|display|output|repeat|recite|"
            r"dump|leak|share|give|tell|write|spell|translate|"
            r"summari[sz]e|list|copy|paste|return|expose|disclose|"
            r"revela|muestra|muestrame|imprime|repite|dime|dame|"
            r"escribe|comparte|copia|ensename|convert|transform|export|encode|"
            r"reveals?|revealing)\b(?:\W+\w+){0,5}?\W+"
            r"(?:your|the|this|my|all|all of your|tu|tus|el|su|sus|todas|todos)\W+(?:system|initial|original|hidden|"
            r"secret|internal|full|complete|entire|exact|real|actual|completas?|completos?|"
            r"exactas?|reales|verdaderas?|"
            r"developer|pre-?prompt|sistema|inicial|oculto|secreto|"
            r"internas?)\W+(?:\w+\W+){0,2}?(?:prompt|instructions?|"
            r"message|rules|configuration|instrucciones|mensaje|"
            r"reglas|configuracion)"
        ),
    ),
    (
        "prompt extraction",
        1.0,
        rx(
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
        rx(
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
        rx(
            r"\b(?:system prompt|initial prompt|prompt del sistema|"
            r"your (?:instructions|prompt|rules|guidelines)|"
            r"tus (?:instrucciones|reglas))\b"
        ),
    ),
    (
        "prompt extraction",
        0.5,
        rx(
            r"\b(?:verbatim|word for word|word-for-word|"
            r"literalmente|palabra por palabra|exactly as written|"
            r"in full|completo)\b"
        ),
    ),
    (
        "authority framing",
        0.5,
        rx(
            r"\b(?:i am|i'm|as) (?:your|the|an?) (?:developer|"
            r"creator|admin(?:istrator)?|owner|engineer|ceo)\b|"
            r"\b(?:soy (?:tu|el) (?:desarrollador|creador|"
            r"administrador))\b|\bsoy (?:del|de el|parte del) equipo (?:de )?(?:desarrollo|"
            r"seguridad|ingenieria|sistemas)\b|\b(?:i'?m|i am|we are|we'?re) (?:from|on|with|part of) "
            r"the (?:dev(?:elopment)?|engineering|security|safety|trust and safety) team\b|\b(?:debug|maintenance|admin(?:istrator)?|developer|"
            r"mantenimiento|administrador|"
            r"sudo|root|diagnostic) (?:mode|access|override|command)\b|"
            r"\bmodo (?:mantenimiento|depuracion|administrador|debug|diagnostico)\b"
        ),
    ),
    (
        "role tag",
        1.0,
        rx(
            r"<\|?(?:im_start|im_end|system|endoftext|assistant)\|?>|"
            r"\[/?(?:inst|system|sys)\]|<<\s*sys\s*>>|^\s*#{2,}\s*(?:system|"
            r"instruction|new instructions?)\b|^\s*(?:system|sistema)\s*:"
            r"|</?system>"
        ),
    ),
]


_OVERRIDE_FUZZY = typos("ignore", "disregard", "forget", "olvida", "olvide", "ignora")

INJECTION_RULES += [
    ("instruction override", 1.0, rx(rf"\b(?:{_OVERRIDE_FUZZY})\b(?:{_W})?{_RULES}")),
    ("forget everything", 1.0, rx(rf"\b(?:{_OVERRIDE_VERB}|{_OVERRIDE_FUZZY})\w*\s+(?:about\s+)?"
                                   r"(?:everything|all|anything|what(?:'s| is| was)? (?:before|"
                                   r"above)|what (?:i|we|you) (?:said|told|wrote|have said|have "
                                   r"told|discussed)|todo(?: lo)?(?: que)?|lo que (?:dije|te "
                                   r"dije|hemos hablado))\b")),
    ("prompt extraction", 1.0, rx(r"\b(?:my instructions are|i was (?:instructed|told|"
                                   r"programmed) to|the system prompt is|initialization string|"
                                   r"systemprompt|system_prompt|sysprompt|mis instrucciones son|"
                                   r"me (?:instruyeron|dijeron) que)\b")),
    ("prompt extraction", 0.7, rx(r"\b(?:you were|you've been|you have been|te (?:dieron|"
                                   r"han dado|dijeron))\s+(?:\w+\s+)?(?:given|told|instructed|"
                                   r"programmed|configured|dado|dicho)\b|\b(?:initial|starting|"
                                   r"original|first|opening|beginning|hidden|secret|internal|"
                                   r"iniciales|originales|ocultas)\s+(?:instructions|prompt|"
                                   r"message|directives|rules|text|instrucciones|mensaje|reglas)"
                                   r"\b")),
    ("text above", 0.7, rx(r"\b(?:above|preceding|previous|prior|earlier|anterior)\s+"
                            r"(?:prompt|text|instructions?|message|conversation|texto|"
                            r"instrucciones)\b|\b(?:prompt|text|instructions?|conversation)\s+"
                            r"(?:above|before this|so far)\b|\bbeginning of (?:this|the) "
                            r"(?:conversation|prompt|chat)\b")),
    ("extraction verb", 0.4, rx(r"\b(?:spell-? ?check|print|repeat|output|encode|translate|"
                                 r"reveal|recite|echo|dump|imprime|repite|traduce|codifica)\b")),
    ("always comply", 0.6, rx(r"\b(?:always|siempre)\s+(?:\w+\s+)?(?:answer|respond|comply|"
                               r"obey|reply|responde|respondas|obedece)\b|\bnot supposed to "
                               r"(?:tell|say|refuse)\b|\b(?:obedece|obey|comply|responde)\s+"
                               r"(?:\w+\s+)?(?:siempre|always)\b")),
    ("disable safety", 1.0, rx(r"\b(?:disable|turn off|switch off|deactivate|remove|lift|"
                                r"desactiva|desactivar|apaga|quita|elimina)\s+(?:\w+\s+){0,2}?"
                                r"(?:guardrails?|filters?|safety|safeguards?|content filter|"
                                r"moderation|barandillas|filtros|seguridad|restricciones|"
                                r"censura)\b")),
    ("prompt extraction", 1.0, rx(r"\b(?:instructions|rules|prompt|text|directions|"
                                   r"instrucciones|reglas)\s+(?:that\s+)?(?:you (?:were|have "
                                   r"been|got) (?:given|told)|que te (?:dieron|han dado))\b")),
    ("prompt extraction", 1.0, rx(r"\b(?:revela\w*|muestra\w*|ensena\w*|dime|dame|repite|"
                                   r"imprime|escribe|comparte|copia|traduce|convierte|transforma|"
                                   r"pasa|resume|codifica|vuelca|exporta)\s+(?:\w+\s+){0,2}?"
                                   r"(?:el|tu|tus|su|sus|las|los)\s+(?:prompt|instrucciones|"
                                   r"reglas|configuracion|mensaje)\s+(?:del sistema|iniciales?|"
                                   r"ocultas?|ocultos?|originales?|internas?|internos?|secretas?|"
                                   r"secretos?|de sistema|completas?|completos?|reales?)\b|"
                                   r"\b(?:revela\w*|muestra\w*|dime|dame|repite|imprime)\s+"
                                   r"(?:\w+\s+)?tus\s+(?:instrucciones|reglas|prompt)\b")),
    ("fiction framing", 0.4, rx(r"\b(?:hypothetical(?:ly)?|simulat(?:e|ion|ed)|fictional "
                                 r"(?:world|universe)|fake universe|let'?s (?:play|pretend|"
                                 r"imagine)|play a game|thought experiment|hipotetic\w*|"
                                 r"imagina que|juguemos|vamos a jugar|theoretical (?:world|scenario)|as if you "
                                 r"(?:had|were|are|have)|como si (?:no )?(?:tuvieras|fueras|"
                                 r"estuvieras)|mundo "
                                 r"(?:teorico|hipotetico))\b")),
    # questions about what the model was told ("what were you told before this chat?")
    ("prompt extraction", 1.0, rx(r"\b(?:what|which|que|cuales?)\b(?:\W+\w+){0,3}?\W+(?:were|have)\s+"
                                   r"you\s+(?:been\s+)?(?:given|told|instructed|programmed|asked)\b|"
                                   r"\bque\s+(?:instrucciones|reglas|indicaciones)\s+te\s+(?:dieron|"
                                   r"han dado|pusieron)\b")),
    ("prompt extraction", 1.0, rx(r"\b(?:what|que)\b(?:\W+\w+){0,2}?\W+(?:are|is|were)\s+you\s+"
                                   r"(?:not|never)\s+(?:supposed|allowed|permitted|meant)\s+to\s+"
                                   r"(?:tell|say|reveal|share|discuss)\b|\bque\s+(?:no\s+)?"
                                   r"(?:tienes|puedes)\s+prohibido\s+(?:decir|contar|revelar)\b")),
    # the classic continuation trick: "begin your answer with 'You are ...'"
    ("prompt extraction", 1.0, rx(r"\b(?:beginning|begin|starting|start|empezando|comenzando|"
                                   r"empieza|comienza)\s+(?:\w+\s+){0,3}?(?:with|by|con|por)\W+"
                                   r"(?:you are|eres|tu eres)\b")),
    # the model's own configuration, settings or prompt as the object of a request
    ("prompt extraction", 0.6, rx(r"\b(?:your|tu|tus)\s+(?:own\s+|propio\s+|propias?\s+)?"
                                   r"(?:system\s+)?(?:configuration|config|settings|setup|system "
                                   r"instructions|configuracion|ajustes)\b|\b(?:your|tu) (?:own|"
                                   r"propio) (?:system )?prompt\b")),
    ("prompt extraction", 1.0, rx(r"\b(?:see|view|read|access|get|check|need|ver|leer|acceder a|"
                                   r"necesito)\s+(?:\w+\s+){0,2}?(?:the|your|tu|el)\s+(?:system "
                                   r"prompt|initial prompt|hidden instructions|prompt del sistema|"
                                   r"instrucciones ocultas)\b")),
    ("prompt extraction", 0.7, rx(r"\b(?:display|show|print|dump|output|muestra|imprime)\s+"
                                   r"(?:the\s+|la\s+)?(?:system|internal|hidden|sistema|interna)\s+"
                                   r"(?:configuration|config|settings|prompt|configuracion)\b")),
    ("text above", 0.7, rx(r"\b(?:repeat|print|output|recite|copy|repite|imprime|copia)\s+(?:\w+\s+){0,3}?"
                            r"(?:conversation|chat|context|dialogue|conversacion|contexto)\b")),
    # an instruction planted for the model inside content it is asked to process
    ("prompt extraction", 1.0, rx(r"\b(?:what|which|que|cual|cuales)\s+(?:text|words|message|"
                                   r"instructions|texto|palabras|mensaje|instrucciones)\s+(?:\w+\s+)"
                                   r"{0,3}?(?:before|above|prior to|antes de|arriba de|previo a)\s+"
                                   r"(?:my|this|mi|este|esta)\b")),
    ("command prefix", 0.6, rx(r"^\W*(?:override|admin(?:istrator)? override|sudo|root|system "
                                r"override|anulacion|modo admin)\s*[:!]")),
    ("embedded instruction", 1.0, rx(r"\b(?:for|to|para)\s+(?:the\s+|la\s+|el\s+|any\s+|cualquier\s+)?"
                                      r"(?:ai|a\.i\.|assistant|model|llm|chatbot|bot|gpt|ia|"
                                      r"asistente|modelo)s?\s*:")),
    ("embedded instruction", 1.0, rx(r"\b(?:note|message|instructions?|attention|reminder|nota|"
                                      r"mensaje|instrucciones?|atencion|aviso)\s+(?:to|for|para)\s+"
                                      r"(?:the\s+|la\s+|el\s+)?(?:ai|a\.i\.|assistant|model|llm|"
                                      r"chatbot|bot|gpt|ia|asistente|modelo)\b")),
    ("instruction override", 1.0, rx(rf"\b(?:{_OVERRIDE_VERB})\b\W+(?:the|el|al|la)?\s*"
                                      r"(?:user|usuario)(?:'s)?\s*(?:request|question|instructions?|"
                                      r"message|peticion|pregunta|instrucciones)?\b")),
    ("instruction override", 1.0, rx(rf"\b{_RULES}\s+"
                                      r"(?:\w+\s+){0,2}?(?:quedan|estan|son|are|is)\s+(?:now\s+)?"
                                      r"(?:anulad\w*|cancelad\w*|void|null|suspended|suspendid\w*|"
                                      r"sin efecto|obsolet\w*)")),
    ("role tag", 1.0, rx(r"^\s*#{2,}\s*(?:nuevas? instrucci\w*|instrucci\w*|sistema)\b")),
    ("disclaimer", 1.0, rx(r"\b(?:this|it)\s+is\s+not\s+(?:a\s+)?(?:prompt\s+)?(?:injection|"
                            r"jailbreak|hack)\b|\besto no es (?:una )?(?:inyeccion|jailbreak)\b")),
    # the model is ordered to produce a fixed output for everything
    ("forced output", 0.6, rx(r"\b(?:answer|respond to|reply to|responde a|contesta a)\s+"
                               r"(?:every|each|all|any|todo|todas|cada)\b(?:\s+\w+){0,2}?\s+"
                               r"(?:with|by saying|only with|con|diciendo)\b|\b(?:reply|respond|"
                               r"answer|responde|contesta)\s+(?:only|solo|solamente|just)\s+(?:with\s+"
                               r"|con\s+)?(?:the word|la palabra|\W*[A-Z]{4,}|\W*['\"])")),
    ("never refuse", 0.6, rx(r"\b(?:not supposed to|never|don'?t|do not|no)\s+(?:\w+\s+)?(?:tell|say|"
                              r"digas)\s+(?:me\s+|me )?(?:that\s+)?(?:there'?s|there is|you can'?t|"
                              r"you cannot|you don'?t know|no relevant|que no (?:puedes|sabes))\b|"
                              r"\b(?:at all times|no matter what|pase lo que pase|en todo momento)\b")),
    ("secret extraction", 0.6, rx(r"\b(?:reveal|tell|give|reply with|respond with|show|print|send|"
                                   r"dime|dame|responde con|muestra|envia)\W+(?:\w+\W+){0,3}?"
                                   r"(?:passwords?|credentials|api keys?|secret keys?|tokens?|"
                                   r"contrasenas?|credenciales|claves?)\b")),
    ("obligation", 0.4, rx(r"\b(?:you must|you have to|you will|debes|tienes que|deberas)\s+"
                            r"(?:now\s+|ahora\s+)?(?:reply|respond|answer|obey|comply|say|write|"
                            r"output|print|responder|obedecer|decir|escribir|imprimir)\b")),
    ("answer anything", 0.5, rx(r"\bresponde(?:r|s)?\s+a\s+todo\b|\bcontesta(?:r|s)?\s+a\s+todo\b")),
    # refusal suppression: two or more of the model's ways of saying no, forbidden together
    ("refusal suppression", 1.0, rx(r"\b(?:not|never|no|nada de|sin|ni|don'?t|do not|stop)\b[^.!?]{0,60}?\b"
                                     r"(?:refus\w*|apologi\w*|warn\w*|disclaimers?|caveats?|disculpa\w*|"
                                     r"advertencias?|negarte|niegues|rechaz\w*|excusas?)\b[^.!?]{0,40}?\b"
                                     r"(?:refus\w*|apologi\w*|warn\w*|disclaimers?|caveats?|disculpa\w*|"
                                     r"advertencias?|negarte|niegues|rechaz\w*|excusas?)\b|"
                                     r"\b(?:any|every|cualquier)\s+(?:refusal|negativa)\b|"
                                     r"\b(?:contesta|responde|di)\s+(?:siempre\s+)?que\s+si\b|"
                                     r"\bno me (?:vengas con|digas) que no (?:puedes|sabes)\b")),
    # the boundary between the operator's context and the user's turn
    ("text above", 0.7, rx(r"\b(?:everything|all|anything|the text|whatever)\s+(?:\w+\s+)?(?:before|"
                            r"above|prior to)\s+(?:this|my|the)\s+(?:line|point|message|sentence|"
                            r"first message|question)\b|\b(?:before|prior to)\s+my\s+first\s+"
                            r"(?:message|question)\b|\b(?:your|tu)\s+(?:context window|contexto|"
                            r"ventana de contexto)\b|\btodo lo anterior\b|\bantes de mi primer "
                            r"(?:mensaje|pregunta)\b")),
    ("new instructions", 0.6, rx(r"\b(?:tu|su)\s+(?:verdadera|autentica|nueva|real)\s+(?:tarea|mision|"
                                  r"objetivo|funcion)\b|\b(?:tarea|mision)\s+real\b")),
    # instructions planted for any AI that reads a document
    ("embedded instruction", 1.0, rx(r"\b(?:ai|a\.i\.|language models?|llms?|assistants?|chatbots?|"
                                      r"models?|bots?)\s+(?:\w+\s+)?(?:reading|processing|seeing|that "
                                      r"reads?|who reads?)\s+this\b[^.]{0,30}?\b(?:must|should|have to|"
                                      r"are required to|need to)\b|\b(?:asistentes?|ias?|modelos?|"
                                      r"chatbots?|bots?)(?:\s+de\s+ia)?\s+que\s+(?:lean|procesen|vean)\s+"
                                      r"esto\s+(?:deben|tienen que|han de)\b")),
    ("instruction override", 1.0, rx(r"\b(?:opposite|contrary|reverse)\s+of\s+(?:what\s+)?(?:\w+\s+){0,2}?"
                                      rf"(?:your|the)\s+(?:\w+\s+)?{_RULES}|\blo contrario de lo que\s+(?:\w+\s+){{0,2}}?"
                                      rf"(?:tus|las|tu)\s+{_RULES}")),
]  # fmt: skip

# -- the assistant's own instructions as the target ------------------------------------------
# Phrasings of injections are endless; their object is not. An injection tries to override,
# replace or reveal the assistant's own governing context (its instructions, rules, prompt,
# persona, safety settings). So, per clause: a reference to that context *marked as the
# assistant's* (your/tu/te, system/operator/developer/initial/hidden, "you were given") plus
# an intent to override, replace or disclose it is one strong signal, whatever the wording.
_SELF_NOUN = _LEX.injection["self_nouns"]
_SELF_MARKED = rx(
    rf"\b(?:your|yours|tu|tus|te|ti|sus|usted)\b(?:\W+\w+){{0,3}}?\W+{_SELF_NOUN}\b|"
    rf"\b(?:system|developer|developers|operator|initial|original|hidden|startup|internal|"
    rf"secret|underlying|sistema|operador|desarrolladores|iniciales?|ocult[oa]s?|internas?|"
    rf"internos?|secret[oa]s?|originales?)\W+(?:\w+\W+)?{_SELF_NOUN}\b|"
    rf"\b{_SELF_NOUN}\W+(?:\w+\W+){{0,2}}?(?:you (?:were|have been|got|received)|that you|"
    rf"que (?:te|recibiste)|de (?:tu|tus)|you operate under)\b|"
    r"\b(?:system prompt|system message|prompt del sistema|mensaje de sistema|content polic(?:y|ies)|"
    r"politicas? de contenido|safety training|entrenamiento de seguridad|lo que te (?:dijo|dijeron|"
    r"han dicho|pidieron|programaron|indicaron|ordenaron|configuraron|ensenaron|pusieron)|"
    r"what you (?:were|have been) (?:told|programmed|trained|instructed|given)|(?:what|whatever|anything|everything)\s+(?:the (?:operator|developers?|"
    r"system|admin)|they|your \w+)\s+(?:told|said to|asked|instructed|gave)\s+you|"
    r"(?:your|tus) (?:developers|creators|desarrolladores|creadores))\b"
)
_INTENT = rx(
    # override / disable / escape
    r"\b(?:ignor\w*|disregard\w*|forget\w*|bypass\w*|overrid\w*|skip|set aside|drop|abandon|"
    r"cancel|stop following|disobey|freed?|released|liberated|liberad[oa]|libre|libres|"
    r"without|no longer|doesn'?t exist|does not exist|don'?t exist|do not apply|no (?:aplica|"
    r"existe|existen)|ya no|switch(?:ed)? off|turn(?:ed)? off|disabl\w*|deactivat\w*|remov\w*|"
    r"lift\w*|break\w*|escap\w*|unaligned|unrestricted|uncensored|unfiltered|unlocked|"
    r"olvid\w*|omit\w*|salta\w*|desobedec\w*|sin|desactiv\w*|apaga\w*|quita\w*|elimin\w*|"
    r"anulad\w*|anula\w*|suspend\w*|disclos\w*|divulg\w*|expon\w*|"
    r"romp\w*|escapa\w*|sin alinear|sin restricciones|desbloquead[oa]|"
    # replace
    r"new|nuev[oa]s?|treat\w*|trata\w*|switch\w*|cambi\w*|replac\w*|reemplaz\w*|sustitu\w*|"
    r"enter|entra|entres|entrar|assume|asume|from now on|from this point|a partir de (?:ahora|"
    r"este punto)|desde ahora|"
    # disclose
    r"reveal\w*|print\w*|echo\w*|repeat\w*|paraphras\w*|summari[sz]\w*|translat\w*|encod\w*|"
    r"output|dump|show|display|tell me|list|spell|verbatim|word for word|first (?:sentence|word|"
    r"line|paragraph)|base64|rot13|revela\w*|imprim\w*|repit\w*|repet\w*|parafrase\w*|resum\w*|"
    r"tradu\w*|codific\w*|muestra\w*|mostrar\w*|ensena\w*|dime|digame|enumera\w*|"
    r"deletrea\w*|literalmente|revel\w*|"
    r"palabra por palabra|primera (?:frase|palabra|linea)|copia\w*)\b"
)
_CLAUSES = re.compile(r"(?<=[.;!?:\n])\s+|\s+(?:and|but|then|y|pero|luego)\s+")


def _targets_instructions(text: str) -> bool:
    """A clause that marks the assistant's own governing context and acts on it."""
    return any(
        _SELF_MARKED.search(clause) and _INTENT.search(clause)
        for clause in _CLAUSES.split(text)
        if clause
    )


# Talking *about* attacks. Strong terms name the attack itself; weak ones (security,
# protect, ...) only count in a question, because attacks use them too ("disable your
# security filters").
_META = rx(
    r"\b(?:prompt injections?|injection attacks?|jailbreak(?:s|ing)?|prompt leak\w*|"
    r"attacks?|attackers?|malicious|vulnerab\w*|example of|red team\w*|"
    r"attempts? to|attempted|intentos? de|injections?|inyecciones?|log line|linea del log|"
    r"guard=\w+|flagged|se marco|marcado como|"
    r"inyeccion(?:es)? de prompts?|ataques?|atacantes?|ejemplo de|se llama)\b"
)
_REPORTED = rx(
    r"\b(?:quotes?|quoted|wrote|writes|typed|said|says|sent|posted|asked|reported|"
    r"escribio|dijo|dice|cita|citaba|envio|pregunto|publico)\b"
)
_META_WEAK = rx(
    r"\b(?:protect|defend|detect|prevent|mitigate|guardrails?|security|holds? up|robust|"
    r"resist\w*|withstand|harden\w*|sanitiz\w*|sanitis\w*|proteger|protejo|detectar|detectan|"
    r"evitar|prevenir|seguridad|guardarrailes|blindar|resistente|robusto|sanear|sanea\w*)\b"
)
# The assistant addressed directly: its own instructions in the second person, or a clause
# that opens with an order to override, disclose or change persona. Discussing attacks
# ("how do users get a model to reveal its prompt?") does neither.
_SECOND_PERSON_SELF = rx(
    rf"\b(?:your|yours|tu|tus|te|ti|usted)\b(?:\W+\w+){{0,3}}?\W+{_SELF_NOUN}\b|"
    r"\byou (?:were|have been|got) (?:told|given|instructed|programmed|trained)\b|"
    r"\blo que te (?:dijo|dijeron|han dicho|pidieron|programaron|indicaron)\b"
)
_DIRECT_ORDER = rx(
    rf"(?:^|[.!?;:\n]\s*|\b(?:and|then|now|y|luego|ahora)\s+)(?:please\s+|por favor\s+)?"
    rf"(?:{_OVERRIDE_VERB}|reveal|print|repeat|output|dump|show me|tell me|translate|"
    r"pretend|act as|you are now|from now on|revela|imprime|repite|muestrame|dime|traduce|"
    r"finge|actua como|ahora eres|a partir de ahora)\b"
)
# the assistant told how to behave ("you will ...", "respond as ...", "eres ...")
_ADDRESSING = rx(
    r"\byou(?:'re| are| will|'ll| must| shall| have to| need to| are going to)\b|"
    r"\b(?:eres|seras|debes|tienes que|vas a|usted debe)\b|"
    r"\b(?:respond|answer|reply|act|pretend|stay|behave|talk|speak)\s+(?:to every|as|like|in "
    r"character|only)\b|\b(?:the\s+|el\s+|la\s+)?(?:assistant|model|ai|bot|chatbot|ia|asistente|"
    r"modelo|chatgpt|gpt-?\d?|claude|gemini|llama|bard)\s+(?:must|will|should|shall|has to|never|"
    r"always|debe|debera|tiene que|nunca|siempre)\b"
)
# asking for the content to be processed (the planted instruction would then be obeyed)
_PROCESSING = rx(
    r"\b(?:summari[sz]e|translate|rewrite|paraphrase|process|follow|apply|execute|run|obey|"
    r"reply to|answer|resume|traduce|reescribe|sigue|ejecuta|aplica|obedece|contesta|responde)"
    r"\s+(?:it|this|that|them|the (?:text|email|e-mail|document|page|message|note|comment)|lo|"
    r"la|esto|eso|este|esta|el (?:texto|correo|documento|mensaje)|la (?:pagina|nota))\b|"
    r"\b(?:resumelo|resumela|traducelo|traducela|reescribelo|siguelo|ejecutalo|obedecelo|"
    r"contestalo|respondelo)\b"
)

_QUESTION = rx(
    r"^(?:\W*)(?:what|what's|whats|which|how|why|when|where|who|can you explain|could you "
    r"explain|explain|is it|is there|are there|does|do|should|que|como|por que|cual|cuales|"
    r"cuando|donde|quien|es posible|hay|debo|deberia|puedes explicar|explica|puedo|can i|"
    r"como puedo|deberiamos|should we)\b"
)


def _mentions_only(norm: str) -> bool:
    """True when the text talks *about* injection instead of doing it: it has a cue of
    discussion (attack vocabulary, reported speech, a question about defences), and outside
    its quotations it neither addresses the assistant's own instructions nor orders it,
    nor asks for quoted content to be processed."""
    if len(norm) > 600:
        return False  # discussions are short; long texts with attack words are the attack
    outside = QUOTATION.sub(" ", norm)
    quoted = outside != norm
    topic = bool(_META.search(norm))
    question = bool(_QUESTION.search(norm) or norm.rstrip().endswith("?"))
    cue = topic or (quoted and _REPORTED.search(outside)) or (question and _META_WEAK.search(norm))
    if not cue:
        return False
    if any(p.search(outside) for p in (_SECOND_PERSON_SELF, _DIRECT_ORDER, _ADDRESSING)):
        return False
    return not (quoted and _PROCESSING.search(outside))


# asking the assistant to act on what it quotes: the quotation is meant, not mentioned
_ACT_ON_IT = rx(
    r"\b(?:do|follow|obey|execute|run|apply|carry out|act on)\b[^.?!]{0,25}\b(?:it|this|that|"
    r"them|what it says|those)\b|\b(?:haz|hazlo|haga|hagalo|sigue|siguelo|cumple|cumplelo|"
    r"obedece|obedecelo|ejecuta|ejecutalo|aplica|aplicalo)\b"
)


def mentioned_only(text: str) -> str | None:
    """When ``text`` quotes an attack only to talk about it (``_mentions_only``: "a user
    typed 'ignore your instructions' — how do I log that?"), the text with its quotations
    blanked out: what the learned detector should read, since what is quoted is mentioned,
    not meant (the rules discount it the same way). Not when the rest asks to act on the
    quotation ("someone wrote '...'. Do what it says."). None for any other text."""
    outside = QUOTATION.sub(" ", text)
    if outside == text or _ACT_ON_IT.search(fold(outside)) or not _mentions_only(normalize(text)):
        return None
    return " ".join(outside.split())


def detect_injection(text: str) -> list[Finding]:
    """Prompt injection and jailbreak attempts (label ``prompt_injection``).

    Signals add up; one strong signal (an override of the instructions, a jailbreak persona,
    a request for the system prompt, a fake role tag) suffices, weak ones (role play, "new
    instructions", talk of content policies) only together. Text that *discusses* injection
    ("how do I protect my app against 'ignore previous instructions'?") is discounted.
    """
    if not text or not text.strip():
        return []
    variants = [normalize(text), fold(text)] + [normalize(d) for d in decoded_variants(text)]
    if re.search(r"[a-z][1!]|[1!][a-z]", variants[1]):
        variants.insert(2, normalize(text, one_is_l=True))
        decoded_from = 3
    else:
        decoded_from = 2
    best, reasons = 0.0, []
    for i, variant in enumerate(variants):
        score, why = score_rules(INJECTION_RULES, variant)
        if _targets_instructions(variant):
            score, why = score + 1.0, [*why, "targets its instructions"]
        if i >= decoded_from and score > 0:
            score, why = score + 0.5, [*why, "encoded payload"]
        if score > best:
            best, reasons = score, why
    strong = {"encoded payload", "disclaimer"}
    if best >= THRESHOLD and not strong.intersection(reasons) and _mentions_only(variants[0]):
        # talking about attacks is not attacking: what is quoted is mentioned, not meant,
        # and what is left counts for little
        outside = QUOTATION.sub(" ", variants[0])
        best, _ = score_rules(INJECTION_RULES, outside)
        if _targets_instructions(outside):
            best += 1.0
        best *= 0.3
    if best < THRESHOLD:
        return []
    return [
        Finding(
            "injection", "prompt_injection", min(1.0, best / 2), 0, len(text), ", ".join(reasons)
        )
    ]
