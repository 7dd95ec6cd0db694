"""Credential redaction for everything that leaves the machine: variable previews, cell sources, outputs, tracebacks.

Every secret is replaced by a marker naming its kind, ``[REDACTED:<kind>]``; the surrounding text is kept so the
model still sees the shape of the code (``postgresql://user:[REDACTED:connection-string-password]@host/db``).

The provider patterns, private-key labels, keyword list, entropy measure and its thresholds come from Yelp's
detect-secrets plugins. Its scanning API is not used: it costs ~360 µs per line, while a kernel snapshot redacts a
thousand previews in a few milliseconds. Instead a single literal pre-filter over the lower-cased text rejects clean
text in ~1 µs per 100 characters, and each detector runs only when one of its anchors occurs.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import NamedTuple

from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string, is_templated_secret
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString, HexHighEntropyString
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.keyword import DENYLIST as KEYWORD_DENYLIST
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector

__all__ = ["SECRET_NAME", "Redaction", "marker", "redact", "redact_value"]


class Redaction(NamedTuple):
    """A text with its secrets replaced, and the kind of each replaced secret in text order (empty: none found)."""

    text: str
    kinds: tuple[str, ...] = ()


def marker(kind: str) -> str:
    """The text that stands in for a secret of `kind`."""
    return f"[REDACTED:{kind}]"


_MARKER_HEAD = "[REDACTED:"


def _any_of(words: list[str]) -> str:
    """A regex for any of `words`, factored by common prefixes: the engine then tries one branch per character
    instead of every word at every position (1 µs instead of 3 µs per 100 characters). Longest match wins."""
    tree: dict = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict) -> str:
        branches = [re.escape(char) + render(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and "" not in node else "(?:" + "|".join(branches) + ")"
        return body + ("?" if "" in node else "")

    return render(tree)


# --- names that say "secret" -----------------------------------------------------------------------------------

# Every secret-looking name contains one of these: found in lower-cased text, then widened to the whole name.
_NAME_WORDS = ["key", "token", "secret", "pass", "pw", "auth", "cred", "contrase", "bearer"]
_NAME_HIT = re.compile(_any_of(_NAME_WORDS))
# A word part starts at the beginning, after a non-alphanumeric, or at a camelCase hump; it ends before a
# non-letter or at a hump. So `apiKey`, `API_KEY`, `auth-token` have parts, `keyboard`, `monkey`, `author` do not.
_PART_START = r"(?:(?<![A-Za-z0-9])|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z]))"
_PART_END = r"(?:(?![A-Za-z])|(?<=[a-z])(?=[A-Z]))"
# detect-secrets' keyword denylist (`api_?key`, `private_?key`, `db_?pass`, `password`, `secret`, ...) matches
# anywhere in a name, like its keyword plugin; these unambiguous words are added to it.
_SUBSTRINGS = "|".join((*KEYWORD_DENYLIST, "passphrase", "credential", "authorization", r"access_?key"))
_QUALIFIED_TOKEN = (
    rf"{_PART_START}(?i:access|refresh|auth|api|bearer|session|oauth|id|bot|app|personal|client|service)[_-]?"
    rf"(?i:tokens?){_PART_END}"
)
_STRONG_PARTS = r"pass|pwd|pw|auth|creds?|bearer"
_WEAK_PARTS = r"keys?|tokens?"

SECRET_NAME = re.compile(
    rf"(?i:{_SUBSTRINGS})|{_QUALIFIED_TOKEN}|{_PART_START}(?i:{_STRONG_PARTS}|{_WEAK_PARTS})\d*{_PART_END}"
)
"""Matches a variable, key or option name that suggests a credential: `api_key`, `dbPassword`, `AUTH_TOKEN`."""

# A bare `key` or `token` (sort_key, tokens) is too common in data code to redact a value that is not random.
_STRONG_NAME = re.compile(rf"(?i:{_SUBSTRINGS})|{_QUALIFIED_TOKEN}|{_PART_START}(?i:{_STRONG_PARTS})\d*{_PART_END}")
# Only a name that ends in a password word binds a password: `db_password` does, `password_prompt` does not.
_PASSWORD_NAME = re.compile(
    rf"(?:(?i:password|passwd|passphrase|contrase[ñn]a)|{_PART_START}(?i:pass|pwd|pw))(?i:s)?\d*['\"\]]*$"
)

# A name that ends in a hash word holds a digest, not a secret: `key_sha256`, `password_hash`, `token_md5`.
_DIGEST_NAME = re.compile(
    rf"{_PART_START}(?i:sha\d*|md5|hash|digest|checksum|fingerprint|etag|crc\d*)(?:_?\d+)?['\"\]]*$"
)


@functools.lru_cache(maxsize=4096)
def _name_tier(name: str) -> str | None:
    """How strongly `name` suggests a secret: "password", "strong" (token, secret, api key ...), "weak" (key)."""
    if _NAME_HIT.search(name.lower()) is None or _DIGEST_NAME.search(name):
        return None
    if _PASSWORD_NAME.search(name):
        return "password"
    if _STRONG_NAME.search(name):
        return "strong"
    if SECRET_NAME.search(name):
        return "weak"
    return None


# --- what a secret value looks like ------------------------------------------------------------------------------

_BASE64 = Base64HighEntropyString()
_HEX = HexHighEntropyString()
_HEX_ONLY = re.compile(r"[0-9a-fA-F]+")
_HAS_DIGIT = re.compile(r"\d")
_HAS_LETTER = re.compile(r"[A-Za-z]")
_NUMBER = re.compile(r"[+-]?(?:\d[\d_]*\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[jJ]?")
_NON_VALUES = frozenset("none null nil true false undefined nan password passwd pass pwd secret changeme".split())
_MASK_CHARS = "*xX•.:-_ "
_PATHISH = re.compile(r"(?:[A-Za-z]:\\|~?\.{0,2}/|[a-z][a-z0-9+.\-]*://)")
_FILE_PATH = re.compile(r"[/\\].*\.[A-Za-z]\w{0,4}$")  # `raw/2024/events-01.json`: an S3 key, not a secret one
_MIXED_CASE_LEEWAY = 0.4


# Words, CamelCase and acronyms: `TheQuickBrownFox`, `HTTPRequestHandler`, `parse_JSON_response`.
_WORDS = re.compile(r"(?:[A-Z]?[a-z]{2,}|[A-Z]{2,}(?=[A-Z][a-z]|[_\-.]|$)|[_\-.])+")


def _random_case(token: str) -> bool:
    """Letters switching case at random (a quarter to three quarters upper case, not a run of capitalised words):
    how a generated token without digits looks, unlike CamelCase identifiers."""
    letters = sum(c.isalpha() for c in token)
    ratio = sum(c.isupper() for c in token) / letters if letters else 0
    return 0.25 <= ratio <= 0.75 and not _WORDS.fullmatch(token)


def _looks_random(token: str, min_len: int, slack: float) -> bool:
    """Whether `token` reads like generated key material rather than a word, an identifier, a UUID or a path.

    detect-secrets' Shannon entropy, with its limits (hex 3.0, base64 4.5) eased by `slack` bits for tokens too
    short to reach 4.5: a 20-character random token averages ~4.0 bits, an identifier like `customer_region_v2`
    ~3.7. Mixing upper and lower case, as most generated keys do, earns 0.4 bits more: that takes the miss rate
    on random 20-64 character tokens from ~4% to under 0.1%.
    """
    if len(token) < min_len or not _HAS_LETTER.search(token):
        return False
    if not _HAS_DIGIT.search(token) and not _random_case(token):
        return False
    if any(c.isspace() or c in "\\{}" for c in token) or _PATHISH.match(token) or _FILE_PATH.search(token):
        return False
    if is_potential_uuid(token) or is_sequential_string(token):
        return False
    if _HEX_ONLY.fullmatch(token):
        return _HEX.calculate_shannon_entropy(token) > _HEX.entropy_limit - slack / 2
    limit = min(_BASE64.entropy_limit, math.log2(len(token)) - slack)
    if token.lower() != token and token.upper() != token:
        limit -= _MIXED_CASE_LEEWAY
    return _BASE64.calculate_shannon_entropy(token) > limit


def _is_placeholder(value: str) -> bool:
    """Templates, masks and null words stand for a secret without being one: `{pw}`, `${PW}`, `:****`, `None`."""
    return (
        len(value) < 3
        or value.startswith(_MARKER_HEAD)
        or is_templated_secret(value)
        or value.lower() in _NON_VALUES
        or not value.strip(_MASK_CHARS)
        or value.startswith("%")
    )


def _password_like(value: str) -> bool:
    """A single token mixing three character classes (`hunter2!x`), which words and identifiers rarely do."""
    if not 6 <= len(value) <= 256 or any(c.isspace() for c in value) or _PATHISH.match(value):
        return False
    classes = (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )
    return classes >= 3


# --- detectors that recognise a secret by its own shape ------------------------------------------------------------


class _Rule(NamedTuple):
    """One kind of secret: its patterns, the lower-case literals one of which must occur, and how to delimit it."""

    kind: str
    patterns: tuple[re.Pattern, ...]
    anchors: tuple[str, ...]
    group: str | int = 0
    tail: re.Pattern | None = None  # extends a match over the rest of the token, so no suffix is ever left behind
    check: Callable[[str], bool] | None = None
    # Patterns in lower case, run on the lower-cased text (same indices): unlike IGNORECASE, this lets the regex
    # engine jump to the literal prefix, 10x faster on a 10 KB text.
    lower: bool = False


_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-]*")
_ALNUM_TAIL = re.compile(r"[A-Za-z0-9]*")
_JWT_TAIL = re.compile(r"[A-Za-z0-9_\-.+/=]*")


def _token(prefix: str, body: str) -> re.Pattern:
    """`prefix` + `body`, where `prefix` must not continue a longer token. The edge is checked after the literal
    (not before it), so the regex engine can still jump from one occurrence of the literal to the next."""
    literal = re.escape(prefix)
    return re.compile(rf"{literal}(?<![A-Za-z0-9_\-]{literal}){body}")


_PEM_LABELS = sorted(
    {p.pattern.removeprefix("BEGIN ") for p in PrivateKeyDetector.denylist if p.pattern.startswith("BEGIN ")}
    | {"ENCRYPTED PRIVATE KEY"},  # PKCS#8 encrypted keys, which detect-secrets' list lacks
    key=len,
    reverse=True,
)
# The whole block, across lines or `\n` escapes in a repr; a block cut off by a truncated preview up to its end.
_PEM = re.compile(
    rf"-{{4,5}} ?BEGIN (?P<label>{'|'.join(map(re.escape, _PEM_LABELS))}) ?-{{4,5}}"
    r"(?:.*?-{4,5} ?END (?P=label) ?-{4,5}|[A-Za-z0-9+/=\s\\:,.\-]*)",
    re.DOTALL,
)
_PUTTY = re.compile(r"PuTTY-User-Key-File-\d+:.*?(?:Private-MAC:[ \t]*[0-9a-fA-F]+|\Z)", re.DOTALL)


def _jwt_is_valid(token: str) -> bool:
    """detect-secrets' check that the header and payload decode to JSON, which base64 blobs never do."""
    return JwtTokenDetector.is_formally_valid(token)


def _real_secret(value: str) -> bool:
    """A value that is not a placeholder such as `{password}` or an earlier marker."""
    return not _is_placeholder(value)


def _bearer_like(token: str) -> bool:
    """A token after "Bearer" has digits or mixed case; the English word after "bearer" in prose has neither."""
    return bool(_HAS_DIGIT.search(token)) or (token.lower() != token and token.upper() != token)


_RULES: tuple[_Rule, ...] = (
    _Rule("private-key", (_PEM,), ("private key",)),
    _Rule("private-key", (_PUTTY,), ("putty-user-key-file",)),
    # An `os.environ` repr holds every environment variable: none is ever sent.
    _Rule("environment", (re.compile(r"environ\(\{.*?(?:\}\)|\Z)", re.DOTALL),), ("environ({",)),
    _Rule("anthropic-api-key", (_token("sk-ant-", r"[A-Za-z0-9_\-]{20,}"),), ("sk-ant-",), tail=_TOKEN_TAIL),
    _Rule(
        "openai-api-key",
        (
            *OpenAIDetector.denylist,
            _token("sk-", r"(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{20,}"),
            _token("sk-", r"[A-Za-z0-9]{32,}"),
        ),
        ("sk-",),
        tail=_TOKEN_TAIL,
    ),
    _Rule(
        "aws-access-key",
        (re.compile(rf"(?:{AWSKeyDetector.denylist[0].pattern})(?![A-Z0-9])(?<![A-Z0-9].{{20}})"),),
        ("akia", "asia", "abia", "acca", "a3t"),
    ),
    # detect-secrets' rule for the secret access key, with the quotes made optional (`AWS_SECRET_ACCESS_KEY=...`).
    _Rule(
        "aws-secret-key",
        (
            re.compile(
                rf"aws.{{0,20}}?{AWSKeyDetector.secret_keyword}.{{0,20}}?"
                r"(?<![0-9a-z/+])(?P<secret>[0-9a-z/+]{40})(?![0-9a-z/+=])"
            ),
        ),
        ("aws",),
        group="secret",
        lower=True,
    ),
    _Rule(
        "github-token",
        (*GitHubTokenDetector.denylist, re.compile(r"github_pat_[A-Za-z0-9_]{22,}")),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        tail=_TOKEN_TAIL,
    ),
    _Rule(
        "gitlab-token",
        tuple(GitLabTokenDetector.denylist),
        (
            "glpat-",
            "gldt-",
            "glft-",
            "glsoat-",
            "glrt-",
            "gr1348941",
            "glcbt-",
            "glimt-",
            "glptt-",
            "glagent-",
            "gloas-",
        ),
        tail=_TOKEN_TAIL,
    ),
    _Rule(
        "slack-token",
        (SlackDetector.denylist[0], re.compile(r"xapp-\d+-[A-Za-z0-9]+-\d+-[A-Za-z0-9]+")),
        ("xox", "xapp-"),
        tail=_TOKEN_TAIL,
    ),
    _Rule("slack-webhook", (SlackDetector.denylist[1],), ("hooks.slack.com",), tail=_TOKEN_TAIL),
    _Rule(
        "stripe-key",
        (*StripeDetector.denylist, re.compile(r"[rs]k_test_[0-9a-zA-Z]{24,}"), re.compile(r"whsec_[A-Za-z0-9]{24,}")),
        ("sk_live_", "rk_live_", "sk_test_", "rk_test_", "whsec_"),
        tail=_ALNUM_TAIL,  # detect-secrets matches 24 characters; current keys are up to 99
    ),
    _Rule("google-api-key", (_token("AIza", r"[0-9A-Za-z_\-]{35}"),), ("aiza",), tail=_TOKEN_TAIL),
    _Rule("google-oauth-secret", (_token("GOCSPX-", r"[A-Za-z0-9_\-]{24,}"),), ("gocspx-",), tail=_TOKEN_TAIL),
    _Rule("google-oauth-token", (_token("ya29.", r"[A-Za-z0-9_\-]{20,}"),), ("ya29.",), tail=_TOKEN_TAIL),
    _Rule("groq-api-key", (_token("gsk_", r"[A-Za-z0-9]{40,}"),), ("gsk_",), tail=_TOKEN_TAIL),
    _Rule("xai-api-key", (_token("xai-", r"[A-Za-z0-9]{60,}"),), ("xai-",), tail=_TOKEN_TAIL),
    _Rule("replicate-token", (_token("r8_", r"[A-Za-z0-9]{30,}"),), ("r8_",), tail=_TOKEN_TAIL),
    _Rule("databricks-token", (_token("dapi", r"[a-f0-9]{32}(?:-\d)?"),), ("dapi",), tail=_TOKEN_TAIL),
    _Rule("digitalocean-token", (_token("dop_v1_", r"[a-f0-9]{64}"),), ("dop_v1_",), tail=_TOKEN_TAIL),
    _Rule("huggingface-token", (_token("hf_", r"[A-Za-z0-9]{30,}"),), ("hf_",), tail=_TOKEN_TAIL),
    _Rule("pypi-token", tuple(PypiTokenDetector.denylist), ("pypi-",), tail=_TOKEN_TAIL),
    _Rule("sendgrid-key", tuple(SendGridDetector.denylist), ("sg.",), tail=_TOKEN_TAIL),
    _Rule("square-oauth-secret", tuple(SquareOAuthDetector.denylist), ("sq0csp-",), tail=_TOKEN_TAIL),
    _Rule("azure-storage-key", tuple(AzureStorageKeyDetector.denylist), ("accountkey=",)),
    _Rule("npm-token", (_token("npm_", r"[A-Za-z0-9]{36}"),), ("npm_",), tail=_TOKEN_TAIL),
    _Rule(
        "mailchimp-key",
        (re.compile(rf"(?<![0-9a-z])(?:{MailchimpDetector.denylist[0].pattern})"),),
        ("-us",),
        tail=_TOKEN_TAIL,
    ),
    # detect-secrets' JWT pattern ends lazily before the signature; the tail takes the signature too.
    _Rule("jwt", tuple(JwtTokenDetector.denylist), ("eyj",), tail=_JWT_TAIL, check=_jwt_is_valid),
    _Rule(
        "bearer-token",
        (re.compile(r"bearer(?<![a-z]bearer)[ \t]+(?P<secret>[a-z0-9\-._~+/]{16,}=*)"),),
        ("bearer",),
        group="secret",
        check=_bearer_like,
        lower=True,
    ),
    _Rule(
        "basic-auth",
        (re.compile(r"authorization['\"]?[ \t]*[:=,][ \t]*['\"]?basic[ \t]+(?P<secret>[a-z0-9+/]{8,}=*)"),),
        ("basic",),
        group="secret",
        lower=True,
    ),
    # Only the password of `scheme://user:password@host`; unlike detect-secrets' basic-auth rule the password may
    # hold reserved characters (`p@ss!word`), taken up to the last `@` before the host.
    _Rule(
        "connection-string-password",
        (re.compile(r"://[^\s:/?#@'\"<>]*:(?P<secret>[^\s/?#'\"<>]+)@(?=[^\s@/?#'\"<>])"),),
        ("://",),
        group="secret",
        check=_real_secret,
    ),
)


_ALL_ANCHORS = sorted({anchor for rule in _RULES for anchor in rule.anchors})
_RULE_ANCHORS = re.compile(_any_of(_ALL_ANCHORS))
# A found anchor runs every rule with an anchor inside it: finding "sk-ant-" runs the `sk-` rules too.
_PRIORITIES_BY_ANCHOR = {
    found: tuple(p for p, rule in enumerate(_RULES) if any(anchor in found for anchor in rule.anchors))
    for found in _ALL_ANCHORS
}
_PASSWORD_PRIORITY = len(_RULES)
_ENTROPY_PRIORITY = len(_RULES) + 1


def _rule_spans(text: str, low: str) -> list[tuple[int, int, int]]:
    """(start, end, priority) of every secret found by shape, running only the rules whose anchors occur."""
    priorities = sorted({p for anchor in set(_RULE_ANCHORS.findall(low)) for p in _PRIORITIES_BY_ANCHOR[anchor]})
    spans = []
    for priority in priorities:
        rule = _RULES[priority]
        subject = low if rule.lower else text
        for pattern in rule.patterns:
            for match in pattern.finditer(subject):
                start, end = match.span(rule.group)
                if rule.tail is not None:
                    end = rule.tail.match(text, end).end()
                if rule.check is None or rule.check(text[start:end]):
                    spans.append((start, end, priority))
    return spans


# --- detectors that recognise a secret by the name it is bound to --------------------------------------------------

_NAME_CHARS = frozenset("_-.")
# `name`, an optional closing quote/bracket (`"password": `, `["token"] = `), an assignment (`=`, `:`, `:=`, `=>`,
# `==`, `!=`, or an annotation `: str =`), then a quoted or bare value.
_BINDING = re.compile(
    r"(?P<name>[\w.\-]+)(?:['\"`]\]?)?[ \t]*"
    r"(?P<op>:[ \t]*[\w.\[\]|, ]{1,60}?[ \t]*=(?![=>])|=>|:=|==|!=|=|:)[ \t]*"
    r"(?:[rRbBuUfF]{0,2}(?:'(?P<sq>[^'\n]*)'|\"(?P<dq>[^\"\n]*)\"|`(?P<bq>[^`\n]*)`)"
    r"|(?P<bare>[^\s'\"`,;(){}\[\]<>&]*[^\s'\"`,;(){}\[\]<>&:.]))"
)
_FREE_TOKEN_LEN = 20  # in free text, a token bound to a key or token name must be this long to be judged by entropy
_IDENTIFIER = re.compile(r"[A-Za-z_][\w.]*")
_CONSTANT = re.compile(r"_*[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?::\w+)?")
_KEY_VALUE_NEXT = re.compile(r"[ \t]+\w+=")


def _name_start(text: str, pos: int) -> int:
    """Where the name around `pos` begins (letters, digits, `_`, `-`, `.`)."""
    limit = max(pos - 100, 0)
    while pos > limit and (text[pos - 1].isalnum() or text[pos - 1] in _NAME_CHARS):
        pos -= 1
    return pos


def _is_reference(text: str, match: re.Match) -> bool:
    """A bare value that is code, not data: `password=pw`, `token=os.environ[...]`, `key=get_key()`.

    Random-looking tokens and identifiers with digits (`password=hunter2`) count as data, unless they read as
    names (`password1`, `TOKEN_URL_V2`); so does anything in a query string, a `key=value;` connection string
    or a libpq `key=value key=value` string.
    """
    value, end, start = match.group("bare"), match.end(), match.start()
    if start and text[start - 1] in "?&;":
        return False
    if end < len(text) and text[end] in "([":
        return True
    if not _IDENTIFIER.fullmatch(value) or _looks_random(value, _FREE_TOKEN_LEN, 0.7):
        return False
    named = not _HAS_DIGIT.search(value) or SECRET_NAME.search(value) or _CONSTANT.fullmatch(value)
    return bool(named) and not _KEY_VALUE_NEXT.match(text, end)


def _free_kind(tier: str, value: str, quoted: bool) -> str | None:
    """The kind of secret a value bound to a name in free text is, if any; restrained, since text is mostly code."""
    if (tier != "password" and len(value) < _FREE_TOKEN_LEN) or _is_placeholder(value):
        return None
    if tier == "password":
        if any(c.isspace() for c in value) or _PATHISH.match(value) or _DOTTED.fullmatch(value):
            return None  # a message, a path or a setting's dotted name
        return None if not quoted and _NUMBER.fullmatch(value) else "password"
    return "high-entropy-secret" if _looks_random(value, _FREE_TOKEN_LEN, 0.7) else None


def _binding_spans(text: str, low: str, found: set[int]) -> list[tuple[int, int, int]]:
    """(start, end, priority) of every value bound to a secret-looking name: `password="..."`, `token: ...`;
    values where a secret was `found` already are not judged again."""
    spans = []
    resume = 0
    for hit in _NAME_HIT.finditer(low):
        if hit.start() < resume:
            continue
        start = _name_start(text, hit.start())
        match = _BINDING.match(text, start)
        if match is None or text.endswith(_MARKER_HEAD, 0, start):
            continue
        resume = match.end()
        tier = _name_tier(match.group("name"))
        if tier is None:
            continue
        group = next(g for g in ("sq", "dq", "bq", "bare") if match.group(g) is not None)
        if match.start(group) in found:
            continue
        if group == "bare" and _is_reference(text, match):
            continue
        kind = _free_kind(tier, match.group(group), quoted=group != "bare")
        if kind is not None:
            spans.append((*match.span(group), _PASSWORD_PRIORITY if kind == "password" else _ENTROPY_PRIORITY))
    return spans


# --- putting it together -------------------------------------------------------------------------------------------

_KIND_BY_PRIORITY = tuple(rule.kind for rule in _RULES) + ("password", "high-entropy-secret")
_ANCHORS = re.compile(_any_of(_ALL_ANCHORS + _NAME_WORDS))
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lower(text: str) -> str:
    """`text` lower-cased with its indices intact (`"İ".lower()` is two characters long; then lower ASCII only)."""
    low = text.lower()
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


def _substitute(text: str, spans: list[tuple[int, int, str]]) -> tuple[str, list[str]]:
    """`text` with each of the ordered, disjoint (start, end, kind) spans replaced by its marker, and the kinds."""
    pieces, done = [], 0
    for start, end, kind in spans:
        pieces += (text[done:start], marker(kind))
        done = end
    pieces.append(text[done:])
    return "".join(pieces), [kind for _, _, kind in spans]


def _apply(text: str, spans: list[tuple[int, int, int]]) -> Redaction:
    """Replace the spans, merging overlaps (the most specific kind names the union, so no part survives)."""
    spans.sort()
    merged: list[list[int]] = []
    for start, end, priority in spans:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            last[1], last[2] = max(last[1], end), min(last[2], priority)
        else:
            merged.append([start, end, priority])
    redacted, kinds = _substitute(text, [(start, end, _KIND_BY_PRIORITY[p]) for start, end, p in merged])
    return Redaction(redacted, tuple(kinds))


def redact(text: str) -> Redaction:
    """Replace everything in `text` that looks like a credential by a marker naming its kind."""
    low = _lower(text)
    if _ANCHORS.search(low) is None:
        return Redaction(text, ())
    spans = _rule_spans(text, low)
    spans += _binding_spans(text, low, {start for start, _, _ in spans})
    if not spans:
        return Redaction(text, ())
    return _apply(text, spans)


# --- variable bindings ---------------------------------------------------------------------------------------------

_STRING_REPR = re.compile(r"[rRbBuU]{0,2}(?P<q>['\"])(?P<content>.*)(?P=q)", re.DOTALL)
_LITERAL = re.compile(r"'(?P<sq>[^'\\\n]*)'|\"(?P<dq>[^\"\\\n]*)\"")


def _bound_kind(tier: str, value: str, quoted: bool) -> str | None:
    """The kind of secret a string bound to a secret-looking name is; stricter than free text, since the name says so.

    A password name takes any string; other names take random-looking tokens, and strong names (token, secret,
    api_key ...) also password-like ones. Numbers are not secrets, strings holding digits are.
    """
    if _is_placeholder(value) or (not quoted and (_NUMBER.fullmatch(value) or any(c.isspace() for c in value))):
        return None
    if tier == "password":
        return "password"
    if _looks_random(value, 16, 1.0):
        return "high-entropy-secret"
    if tier == "strong" and _password_like(value):
        return "secret"
    return None


def _redact_literals(base: Redaction, tier: str) -> Redaction:
    """In a container or object repr bound to a secret name, redact the string literals that qualify."""
    spans = []
    for match in _LITERAL.finditer(base.text):
        group = "sq" if match.group("sq") is not None else "dq"
        value = match.group(group)
        kind = _bound_kind(tier, value, quoted=True)
        if kind is not None:
            spans.append((*match.span(group), kind))
    if not spans:
        return base
    redacted, kinds = _substitute(base.text, spans)
    return Redaction(redacted, base.kinds + tuple(kinds))


def redact_value(name: str, value: str) -> Redaction:
    """Redact the preview `value` of variable `name`; a secret-looking name also redacts a value that only the
    name gives away (`password = "hunter2!x"`, `client_secret = "dev-Secret-1"`)."""
    base = redact(value)
    tier = _name_tier(name)
    if tier is None:
        return base
    text = base.text
    string = _STRING_REPR.fullmatch(text)
    if string is not None:
        start, end = string.span("content")
    elif not any(c.isspace() for c in text):
        start, end = 0, len(text)
    else:
        return _redact_literals(base, tier)
    kind = _bound_kind(tier, text[start:end], quoted=string is not None)
    if kind is None:
        return base
    return Redaction(text[:start] + marker(kind) + text[end:], base.kinds + (kind,))
