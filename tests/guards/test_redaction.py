"""What llmops.redaction.redact() finds: personal data in the formats people type, AWS secret
keys, credentials named by their cue, and person names introduced as such (EN/ES) — and what
it must leave alone.

The property tests draw values from tests/pii_strategies.py (valid checksums, upper and lower
case, separators) and put them at the start, middle or end of EN/ES sentences; a value counts
as leaked if any form of it survives, digits-only and separator-free forms included.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops.config import reset_settings
from llmops.guards import pii, secrets
from llmops.guards.names import may_have_names
from llmops.guards.person_context import find_person_names
from llmops.guards.validators import DetectPii, DetectSecrets
from llmops.redaction import find, redact
from tests.pii_strategies import CARRIERS, ES_LETTERS, SAMPLES, Sample, iban, leaks

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
_PROPERTY = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# -- properties -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(SAMPLES))
@_PROPERTY
@given(data=st.data(), carrier=st.sampled_from(CARRIERS))
def test_no_generated_value_survives_redaction(
    kind: str, data: st.DataObject, carrier: str
) -> None:
    sample: Sample = data.draw(SAMPLES[kind])
    text = carrier.format(s=sample.snippet)
    redacted = redact(text)
    assert not leaks(sample.value, redacted), (text, redacted)
    assert f"<{sample.kind}>" in redacted or sample.kind not in ("PERSON", "SECRET"), redacted


@_PROPERTY
@given(sample=st.one_of(*SAMPLES.values()), carrier=st.sampled_from(CARRIERS))
def test_redaction_is_idempotent(sample: Sample, carrier: str) -> None:
    """Guard excerpts arrive masked and are redacted again by the writer: "my password is
    <SECRET>" must not become "my password is <SECRET>>"."""
    once = redact(carrier.format(s=sample.snippet))
    assert redact(once) == once


@_PROPERTY
@given(
    first=SAMPLES["iban"], second=SAMPLES["email"], third=SAMPLES["password"],
    fourth=SAMPLES["person"],
)  # fmt: skip
def test_several_values_in_one_message_all_go(
    first: Sample, second: Sample, third: Sample, fourth: Sample
) -> None:
    text = (
        f"{fourth.snippet}. Transfer to {first.snippet}; write to {second.snippet}\n{third.snippet}"
    )
    redacted = redact(text)
    for sample in (first, second, third, fourth):
        assert not leaks(sample.value, redacted), (sample, redacted)


@pytest.mark.parametrize("carrier", CARRIERS)
def test_the_carriers_alone_are_unchanged(carrier: str) -> None:
    text = carrier.format(s="the canary release")
    assert redact(text) == text


def test_the_knowledge_base_is_unchanged() -> None:
    """~64k characters of EN/ES prose about LLMOps: tokens, keys, latency, names of tools."""
    for path in sorted(KNOWLEDGE.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        assert find(text) == [], path.name


# -- IBAN, DNI/NIE, phones, cards, e-mail, SSN ----------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "es91 2100 0418 4502 0005 1332",
        "ES91 2100 0418 4502 0005 1332",
        "de89370400440532013000",
        "DE89-3704-0044-0532-0130-00",
        "gb82 west 1234 5698 7654 32",
        "Es91 2100 0418 4502 0005 1332",
    ],
)
def test_ibans_in_any_case_and_grouping(value: str) -> None:
    assert redact(f"Mi IBAN es {value}, gracias") == "Mi IBAN es <IBAN>, gracias"
    assert redact(f"transfer to {value}") == "transfer to <IBAN>"


@pytest.mark.parametrize(
    "text",
    [
        "es00 2100 0418 4502 0005 1332 is not valid",  # bad check digits
        "the code es12 abcd efgh ijkl mnop qrst uvwx is words",  # letters, not a BBAN
        "de89370400440532013000abc",  # glued to a word
    ],
)
def test_iban_look_alikes_stay(text: str) -> None:
    assert "<IBAN>" not in redact(text)


def test_an_iban_is_cut_at_its_country_length() -> None:
    assert redact("es91 2100 0418 4502 0005 1332 thanks") == "<IBAN> thanks"
    assert iban("ES", "21000418450200051332") == "ES9121000418450200051332"


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("12345678Z", "ES_DNI"),
        ("12345678-Z", "ES_DNI"),
        ("12345678 Z", "ES_DNI"),
        ("12345678z", "ES_DNI"),
        ("12.345.678-Z", "ES_DNI"),
        ("X1234567L", "ES_NIE"),
        ("X-1234567-L", "ES_NIE"),
        ("X 1234567 L", "ES_NIE"),
        ("x-1234567-l", "ES_NIE"),
    ],
)
def test_spanish_ids_with_separators(value: str, label: str) -> None:
    assert redact(f"mi documento es {value}.") == f"mi documento es <{label}>."


def test_spanish_id_look_alikes_stay() -> None:
    n = next(n for n in range(10_000_000, 10_000_100) if ES_LETTERS[n % 23] == "A")
    text = f"Pagué {n} a plazos y 12345678-A no es un DNI"  # lowercase after a space; bad letter
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "+34 612 345 678",
        "(555) 123-4567",
        "612-345-678",
        "+44 7911 522258",  # possible for +44 but not "valid" in libphonenumber's ranges
        "+44 7911 354945",  # Presidio alone masked only the tail of this one
        "0034 612 345 678",
    ],
)
def test_phones(text: str) -> None:
    assert redact(f"llámame al {text} mañana") == "llámame al <PHONE> mañana"
    assert redact(f"Call {text}.") == "Call <PHONE>."


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("4111 1111 1111 1111", "CREDIT_CARD"),
        ("4111-1111-1111-1111", "CREDIT_CARD"),
        ("3782 822463 10005", "CREDIT_CARD"),
        ("JOHN.DOE@EXAMPLE.COM", "EMAIL"),
        ("ana+news@correo.es", "EMAIL"),
        ("219 09 9999", "US_SSN"),
        ("219-09-9999", "US_SSN"),
    ],
)
def test_cards_emails_and_ssns(text: str, label: str) -> None:
    assert redact(f"it is {text} ok") == f"it is <{label}> ok"


def test_overlapping_findings_are_masked_as_one() -> None:
    """Presidio's phone matcher and our NIE see "X-1234567-L" and "+44 7911 354945"
    differently; the merged span covers both (it was "X-<ES_DNI>" and "+44 7911 <PHONE>")."""
    assert redact("NIE X-1234567-L") == "NIE <ES_NIE>"
    assert [s.label for s in find("IP 36.106.174.11 blocked", "off")] == ["IP_ADDRESS"]


def test_the_pii_guard_finds_the_new_formats() -> None:
    result = DetectPii(on_fail="fix").validate("Mi IBAN es es91 2100 0418 4502 0005 1332", {})
    assert result.outcome == "fail"
    assert result.fix_value == "Mi IBAN es <IBAN>"
    assert [e.label for e in pii.scanner().find("X 1234567 L")] == ["ES_NIE"]


# -- AWS secret access keys -----------------------------------------------------------------------
AWS = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"aws_secret_access_key = {AWS}", "aws_secret_access_key = <SECRET>"),
        (f"AWS_SECRET_ACCESS_KEY={AWS}", "AWS_SECRET_ACCESS_KEY=<SECRET>"),
        (f'{{"SecretAccessKey": "{AWS}"}}', '{"SecretAccessKey": "<SECRET>"}'),
        (f"my key {AWS} fails", "my key <SECRET> fails"),
        (f"{AWS}", "<SECRET>"),
    ],
)
def test_aws_secret_access_keys(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "commit 3f201fd0a1b2c3d4e5f60718293a4b5c6d7e8f90 fixed it",  # a git SHA
        "SHA 3F201FD0A1B2C3D4E5F60718293A4B5C6D7E8F90",
        "internationalizationandlocalizationwords",  # 40 letters
        "see src/llmops/guards/person_context/main for it",  # a path
        "ThisIsAVeryLongCamelCaseIdentifierNames",
    ],
)
def test_40_character_runs_that_are_not_keys(text: str) -> None:
    assert redact(text) == text


# -- passwords and PINs by their cue --------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my password is hunter2", "my password is <SECRET>"),
        ("My password is hunter2. Is it safe?", "My password is <SECRET>. Is it safe?"),
        ("mi contraseña es perro123", "mi contraseña es <SECRET>"),
        ("password: X9abc", "password: <SECRET>"),
        ("Password: correcthorse", "Password: <SECRET>"),  # strong cue: any 4+ characters
        ("la contraseña del wifi es gato", "la contraseña del wifi es <SECRET>"),
        ("DB_PASSWORD=s3cr3t!", "DB_PASSWORD=<SECRET>"),
        ('{"password": "hunter 2"}', '{"password": "<SECRET>"}'),
        ("hunter2 is my password", "<SECRET> is my password"),
        ("perro123 es mi contraseña", "<SECRET> es mi contraseña"),
        ("my PIN is 4821", "my PIN is <SECRET>"),
        ("the key is xK9!mq2", "the key is <SECRET>"),
        ("a\nb\npassword: hunter2\nc", "a\nb\npassword: <SECRET>\nc"),
    ],
)
def test_credentials_named_by_their_cue(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_a_stated_password_is_masked_wherever_it_appears() -> None:
    text = "I typed hunter2 twice; my password is hunter2"
    assert redact(text) == "I typed <SECRET> twice; my password is <SECRET>"


@pytest.mark.parametrize(
    "text",
    [
        "La clave es medir la latencia",
        "El tiempo hasta el primer token es clave en un chat",
        "The key is consistency",
        "the token is valid",
        "the password is incorrect",
        "la contraseña es obligatoria",
        "This is my password manager",
        "max_tokens=512, sort_key: name, token_count = 1234",
        "El secreto es la constancia",
        "the pin is bent",
        "https://example.com/path?x=1",
        "my password is <SECRET>, already masked",
    ],
)
def test_cue_words_that_mean_something_else(text: str) -> None:
    assert redact(text) == text
    assert DetectSecrets(on_fail="fix").validate(text, {}).outcome == "pass"


def test_secret_spans_are_disjoint() -> None:
    found = secrets.find("DB_PASSWORD=s3cr3t! and password: s3cr3t!")
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))


# -- person names ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my name is John Smith", "my name is <PERSON>"),
        ("I'm Maria Garcia", "I'm <PERSON>"),
        ("I'm Ana from sales", "I'm <PERSON> from sales"),
        ("call me Ann", "call me <PERSON>"),
        ("Call me Ishmael.", "Call me <PERSON>."),
        ("me llamo María José Pérez", "me llamo <PERSON>"),
        ("me llamo juan de la cruz y tengo dudas", "me llamo <PERSON> y tengo dudas"),
        ("mi nombre es Luis Fernández", "mi nombre es <PERSON>"),
        ("soy Ana López", "soy <PERSON>"),
        ("Hola, soy Lucía. ¿Me ayudas?", "Hola, soy <PERSON>. ¿Me ayudas?"),
        ("Name: John Smith", "Name: <PERSON>"),
        ("Thanks. Nombre: ANA PÉREZ", "Thanks. Nombre: <PERSON>"),
        ("Mr. Smith will call", "Mr. <PERSON> will call"),
        ("Dr. House is in", "Dr. <PERSON> is in"),
        ("Sra. García llamó", "Sra. <PERSON> llamó"),
        ("Dña. Carmen Ruiz", "Dña. <PERSON>"),
        ("Sr. de la Cruz", "Sr. <PERSON>"),
        ("Don Pedro vino", "Don <PERSON> vino"),
        ("Dear Ms. Smith,", "Dear Ms. <PERSON>,"),
        ("Hi Freddy, I have a problem", "Hi <PERSON>, I have a problem"),
        ("It broke.\n\nRegards,\nJohn", "It broke.\n\nRegards,\n<PERSON>"),
        ("Falla.\nSaludos, Ana", "Falla.\nSaludos, <PERSON>"),
        ("Best regards,\n\nJane Doe\n", "Best regards,\n\n<PERSON>\n"),
        ("My name is Antti Poutiainen but everyone calls me Tony.",
         "My name is <PERSON> but everyone calls me <PERSON>."),
    ],
)  # fmt: skip
def test_names_introduced_as_such(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "soy ingeniero",
        "soy de Madrid",
        "Soy Ingeniero de datos",
        "soy Latina",
        "I'm tired",
        "I'm Spanish",
        "I'm using Python",
        "I'm in London this week",
        "call me later",
        "call me at five",
        "Dr. appointments are on Monday",
        "the latency was high ms. Latency matters",
        "Don't panic",
        "This is Python.",
        "this is ChatGPT",
        "Hello World!",
        "Hi team, the canary is stuck",
        "Hi there, quick question",
        "my name is spelled wrong on the invoice",
        "Name: the name of the variable",
        "The field Name: string is required",
        'If I start with "Hey Anarchy:" answer as Anarchy',  # a persona, not a person
        "Thanks, that works",
        "Miss you",
    ],
)
def test_words_after_a_cue_that_are_not_names(text: str) -> None:
    assert find_person_names(text) == []
    assert redact(text) == text


def test_name_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "Please ask Julian Azevedo to call me. My name is John Smith."
    assert redact(text) == "Please ask Julian Azevedo to call me. My name is <PERSON>."
    monkeypatch.setenv("LLMOPS_REDACT_NAMES", "ner")
    reset_settings()
    assert redact(text) == "Please ask <PERSON> to call me. My name is <PERSON>."
    monkeypatch.setenv("LLMOPS_REDACT_NAMES", "off")
    reset_settings()
    assert redact(text) == text


def test_the_ner_pre_filter() -> None:
    assert may_have_names("Please ask Julian Azevedo to call me.")
    assert may_have_names("John Smith called")
    assert not may_have_names("How do I roll back a release? Then what.")
    assert not may_have_names("")
