"""Secret redaction: fake credentials of each provider are replaced wherever they appear; ordinary text is untouched.

Every credential here is generated from a seeded RNG with the provider's prefix, length and alphabet; none is real.
"""

from __future__ import annotations

import base64
import json
import random
import string

import pytest

from jupyter_layers.redact import SECRET_NAME, Redaction, redact, redact_value

RNG = random.Random(20240611)
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"


def rand(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt() -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": rand(string.digits, 10), "name": "Ada", "iat": 1718000000}).encode())
    return f"{header}.{payload}.{b64url(RNG.randbytes(32))}"


def pem_body(lines: int) -> str:
    return "\n".join(base64.b64encode(RNG.randbytes(48)).decode() for _ in range(lines))


RSA_BODY = pem_body(6)
OPENSSH_BODY = pem_body(4)
RSA_PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{RSA_BODY}\n-----END RSA PRIVATE KEY-----"
OPENSSH_PEM = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{OPENSSH_BODY}\n-----END OPENSSH PRIVATE KEY-----"

BEARER = rand(URLSAFE, 40)
BASIC = base64.b64encode(b"ada:" + rand(ALNUM, 12).encode()).decode()


def token(kind: str, credential: str, secret: str | None = None) -> tuple[str, str, str]:
    """(kind, the credential as it appears, the part of it that must vanish: all of it unless given)."""
    return kind, credential, credential if secret is None else secret


TOKENS = [
    token("anthropic-api-key", "sk-ant-api03-" + rand(URLSAFE, 93) + "AA"),
    token("openai-api-key", "sk-proj-" + rand(URLSAFE, 74) + "T3BlbkFJ" + rand(URLSAFE, 74)),
    token("openai-api-key", "sk-" + rand(ALNUM, 20) + "T3BlbkFJ" + rand(ALNUM, 20)),
    token("openai-api-key", "sk-" + rand(ALNUM, 48)),
    token("aws-access-key", "AKIA" + rand(string.ascii_uppercase + "234567", 16)),
    token("github-token", "ghp_" + rand(ALNUM, 36)),
    token("github-token", "github_pat_" + rand(ALNUM, 22) + "_" + rand(ALNUM, 59)),
    token("gitlab-token", "glpat-" + rand(URLSAFE, 20)),
    token("slack-token", f"xoxb-{rand(string.digits, 12)}-{rand(string.digits, 13)}-{rand(ALNUM, 24)}"),
    token("slack-webhook", f"https://hooks.slack.com/services/T{rand(ALNUM, 8)}/B{rand(ALNUM, 10)}/{rand(ALNUM, 24)}"),
    token("stripe-key", "sk_live_" + rand(ALNUM, 99)),
    token("stripe-key", "rk_live_" + rand(ALNUM, 24)),
    token("google-api-key", "AIza" + rand(URLSAFE, 35)),
    token("huggingface-token", "hf_" + rand(string.ascii_letters, 34)),
    token("google-oauth-secret", "GOCSPX-" + rand(URLSAFE, 28)),
    token("google-oauth-token", "ya29." + rand(URLSAFE, 150)),
    token("groq-api-key", "gsk_" + rand(ALNUM, 52)),
    token("xai-api-key", "xai-" + rand(ALNUM, 80)),
    token("replicate-token", "r8_" + rand(ALNUM, 37)),
    token("databricks-token", "dapi" + rand("0123456789abcdef", 32)),
    token("digitalocean-token", "dop_v1_" + rand("0123456789abcdef", 64)),
    token("pypi-token", "pypi-AgEIcHlwaS5vcmc" + rand(URLSAFE, 120)),
    token("sendgrid-key", f"SG.{rand(URLSAFE, 22)}.{rand(URLSAFE, 43)}"),
    token("npm-token", "npm_" + rand(ALNUM, 36)),
    token("jwt", fake_jwt()),
    token("private-key", RSA_PEM, RSA_BODY),
    token("private-key", OPENSSH_PEM, OPENSSH_BODY),
    token("bearer-token", f"Authorization: Bearer {BEARER}", BEARER),
    token("basic-auth", f"Authorization: Basic {BASIC}", BASIC),
]

PG_PASSWORD = "S3cr3t!pw" + rand(ALNUM, 6)
MYSQL_PASSWORD = "p@ss" + rand(ALNUM, 8)
MONGO_PASSWORD = rand(ALNUM, 16)
URLS = [
    (
        f"postgresql://analyst:{PG_PASSWORD}@db.internal:5432/sales",
        PG_PASSWORD,
        "postgresql://analyst:[REDACTED:connection-string-password]@db.internal:5432/sales",
    ),
    (
        f"mysql+pymysql://root:{MYSQL_PASSWORD}@mysql.local/shop",
        MYSQL_PASSWORD,
        "mysql+pymysql://root:[REDACTED:connection-string-password]@mysql.local/shop",
    ),
    (
        f"mongodb+srv://app:{MONGO_PASSWORD}@cluster0.ab1cd.mongodb.net/?retryWrites=true&w=majority",
        MONGO_PASSWORD,
        "mongodb+srv://app:[REDACTED:connection-string-password]@cluster0.ab1cd.mongodb.net/?retryWrites=true&w=majority",
    ),
]


def in_code(secret: str) -> str:
    return f'import client\n\nvalue = """{secret}"""\nconn = client.connect(value, timeout=30)\nconn.ping()\n'


def in_dict_repr(secret: str) -> str:
    return repr({"name": "prod", "value": secret, "retries": 3, "tags": ["eu", "β"]})


def in_traceback(secret: str) -> str:
    return (
        "Traceback (most recent call last):\n"
        '  File "/tmp/ipykernel_4121/2817363.py", line 3, in <module>\n'
        f"    conn = client.connect({secret!r})\n"
        '  File "/opt/conda/lib/python3.11/site-packages/client/api.py", line 88, in connect\n'
        "    raise ConnectionError(f'rejected {value}')\n"
        f"ConnectionError: rejected {secret}\n"
    )


CONTEXTS = [in_code, in_dict_repr, in_traceback]


def assert_gone(secret: str, text: str) -> None:
    """No 8-character piece of the secret is left anywhere in the text (nor, for reprs, its escaped form)."""
    for piece in (secret, secret.replace("\n", "\\n")):
        for i in range(0, max(len(piece) - 8, 0) + 1, 3):
            assert piece[i : i + 8] not in text, f"{piece[i : i + 8]!r} left in {text!r}"


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize(
    ("kind", "credential", "secret"), TOKENS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(TOKENS)]
)
def test_provider_credentials_are_replaced_by_their_kind(kind, credential, secret, context):
    result = redact(context(credential))
    assert f"[REDACTED:{kind}]" in result.text
    assert kind in result.kinds
    assert_gone(secret, result.text)


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize(("url", "password", "kept"), URLS, ids=["postgres", "mysql", "mongodb+srv"])
def test_connection_strings_keep_the_url_and_lose_the_password(url, password, kept, context):
    result = redact(context(url))
    assert kept in result.text
    assert set(result.kinds) == {"connection-string-password"}
    assert password not in result.text


def test_aws_secret_access_key_bound_to_its_name():
    secret = rand(ALNUM + "/+", 40)
    for text in (
        f'session = boto3.Session(aws_access_key_id="AKIA{rand(string.ascii_uppercase, 16)}",\n'
        f'                        aws_secret_access_key="{secret}")',
        repr({"aws_secret_access_key": secret, "region_name": "eu-west-1"}),
        f"export AWS_SECRET_ACCESS_KEY={secret}\nbotocore.exceptions.NoCredentialsError: Unable to locate credentials",
    ):
        result = redact(text)
        assert "aws-secret-key" in result.kinds
        assert_gone(secret, result.text)


@pytest.mark.parametrize(
    "text",
    [
        'db = psycopg2.connect(host="db.internal", user="ada", password="hunter2!x")',
        repr({"host": "db.internal", "user": "ada", "password": "hunter2!x"}),
        "TypeError: connect() got an unexpected keyword argument: password='hunter2!x'",
        "Server=db.internal;Database=sales;User Id=ada;Password=hunter2!x;",
        "conn = psycopg2.connect('host=db.internal user=ada password=hunter2!x dbname=sales')",
        "https://api.example.com/login?user=ada&password=hunter2!x",
        "--password=hunter2!x",
        "PGPASSWORD=hunter2!x psql -h db.internal",
        'settings["db_password"] = "hunter2!x"',
        'password: str = "hunter2!x"',
    ],
)
def test_passwords_bound_to_password_names(text):
    result = redact(text)
    assert result.kinds == ("password",)
    assert "hunter2" not in result.text
    assert "[REDACTED:password]" in result.text


TOKEN = rand(ALNUM, 32)
CLIENT_SECRET = rand(ALNUM, 40)
ACCESS_TOKEN = rand(ALNUM, 28)
HEX_KEY = rand("0123456789abcdef", 32)
BOUND_TOKENS = [
    (f'client = Client(token="{TOKEN}")', TOKEN),
    (repr({"client_id": "analytics", "client_secret": CLIENT_SECRET}), CLIENT_SECRET),
    (f"HTTPError: 401 for url: https://api.example.com/v1/me?access_token={ACCESS_TOKEN}&fields=id", ACCESS_TOKEN),
    (f"X-Api-Key: {HEX_KEY}", HEX_KEY),
]


@pytest.mark.parametrize(("text", "secret"), BOUND_TOKENS, ids=["kwarg", "dict", "query", "header"])
def test_random_tokens_bound_to_secret_names(text, secret):
    result = redact(text)
    assert result.kinds == ("high-entropy-secret",)
    assert_gone(secret, result.text)


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("password", "'hunter2!x'", "password"),
        ("DB_PASSWORD", "hunter2!x", "password"),
        ("passwd", "'correct horse battery staple'", "password"),
        ("smtpPassword", "b'Tr0ub4dor&3'", "password"),
        ("api_key", "'dev-key-123'", "secret"),
        ("client_secret", "'Winter2024!'", "secret"),
        ("authToken", "'hunter2!x'", "secret"),
        ("secret_token", repr(rand(ALNUM, 24)), "high-entropy-secret"),
        ("cache_key", repr(rand("0123456789abcdef", 40)), "high-entropy-secret"),
        ("HF_TOKEN", repr("hf_" + rand(string.ascii_letters, 34)), "huggingface-token"),
    ],
)
def test_redact_value_uses_the_name(name, value, kind):
    result = redact_value(name, value)
    assert result.kinds == (kind,)
    assert f"[REDACTED:{kind}]" in result.text
    assert value.strip("b'\"") not in result.text


def test_redact_value_keeps_the_quotes_of_a_string_repr():
    assert redact_value("password", "'hunter2!x'") == Redaction("'[REDACTED:password]'", ("password",))


def test_redact_value_redacts_literals_inside_containers_bound_to_secret_names():
    keys = [rand("0123456789abcdef", 32) for _ in range(2)]
    result = redact_value("api_keys", repr(keys))
    assert result.kinds == ("high-entropy-secret", "high-entropy-secret")
    assert all(key not in result.text for key in keys)
    passwords = redact_value("passwords", repr({"prod": "hunter2!x", "dev": "letmein"}))
    assert "hunter2" not in passwords.text and "letmein" not in passwords.text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sort_key", "'Revenue_2023'"),
        ("key", "'region'"),
        ("keys", "dict_keys(['a', 'b'])"),
        ("tokens", "['Hello', ',', 'world', '!']"),
        ("valid_tokens", "['Hello,', 'World!', 'Ünïcode-2']"),
        ("tokens_text", repr("The 2 quick brown foxes jumped over 13 lazy dogs while 7 cats watched from afar")),
        ("token", "'Hello,'"),
        ("max_new_tokens", "256"),
        ("password", "None"),
        ("password", "''"),
        ("pass_rate", "0.95"),
        ("tokenizer", "'bert-base-uncased'"),
        ("keyboard", "'Qwerty!23'"),
        ("author", "'Ada Lovelace'"),
        ("digest", repr(rand("0123456789abcdef", 64))),
        ("run_id", "'550e8400-e29b-41d4-a716-446655440000'"),
        ("s3_key", "'raw/2024/10/events-2024-10-01T00Z.json'"),
    ],
)
def test_redact_value_leaves_ordinary_bindings(name, value):
    assert redact_value(name, value) == Redaction(value, ())


def test_environment_reprs_are_never_included():
    env = "environ({'PATH': '/usr/bin', 'HOME': '/home/ada', 'MY_DB': 'hunter2'})"
    result = redact(f"In [3]: os.environ\nOut[3]: {env}\n")
    assert result.kinds == ("environment",)
    assert "hunter2" not in result.text and "/home/ada" not in result.text
    truncated = redact_value("env", "environ({'PATH': '/usr/bin', 'TOKEN': 'abc")
    assert truncated.text == "[REDACTED:environment]"


def test_truncated_and_escaped_private_keys():
    cut = RSA_PEM[: len(RSA_PEM) // 2]
    assert redact(f"key = '''{cut}").text == "key = '''[REDACTED:private-key]"
    escaped = redact(repr(RSA_PEM)[:200])
    assert escaped.kinds == ("private-key",)
    assert_gone(RSA_BODY[:150], escaped.text)


NEGATIVE = [
    "import pandas as pd\ndf = pd.read_csv('data/sales_2023.csv', parse_dates=['date'])\ndf.groupby('region').sum()",
    "for key, value in sorted(stats.items(), key=lambda kv: kv[1]):\n    print(f'{key}: {value}')",
    "tokenizer = AutoTokenizer.from_pretrained('sentence-transformers/all-MiniLM-L6-v2')\n"
    "out = model.generate(**inputs, max_new_tokens=256, pad_token_id=tokenizer.eos_token_id)",
    "password = getpass.getpass('Password: ')\napi_key = os.environ['OPENAI_API_KEY']\ntoken = None",
    "conn = psycopg2.connect(host=host, user=user, password=password)",
    "def login(user: str, password: str | None = None) -> Session: ...",
    "     price      volume  ratio_a        ratio_b\n"
    "0  101.234567  12345.0  0.123456789  3.14159265358979\n"
    "1   99.876543  67890.0  0.987654321  2.71828182845904\n"
    "[2 rows x 4 columns]",
    "run_id = '550e8400-e29b-41d4-a716-446655440000'\nuuid.UUID('6fa459ea-ee8a-3ca4-894e-db77e160355e')",
    "digest = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'\n"
    "sha = hashlib.sha1(data).hexdigest()  # 'da39a3ee5e6b4b0d3255bfef95601890afd80709'",
    "/home/ada/projects/churn/data/processed/train_2023_v2.parquet\nC:\\Users\\ada\\Documents\\report.xlsx",
    "https://example.com:8080/api/v1/items?page=2&sort=desc\nhttps://ada@github.com/org/repo.git\n"
    "git@github.com:org/repo.git\nhttps://docs.python.org/3/library/re.html#re.Match",
    "3.141592653589793 2.718281828459045 1e-09 -42 0x7f3a2b1c 1_000_000 6.02214076e23",
    '<img src="data:image/png;base64,' + base64.b64encode(RNG.randbytes(600)).decode() + '">',
    "{'image/png': 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='}",
    "Bearer authentication is required; the bearer of this token must sign in.",
    "The keyboard's monkey key and the author's passenger pass; compass bypass.",
    "cache_key = f'{user_id}:{date}'\nsort_key = 'transaction_date_2023'\nkey = 'region'",
    "s3.get_object(Bucket=bucket, Key='raw/2024/10/Events-2024-10-01T00Z.json')",
    "{'token_type': 'CustomerLifetimeValueEstimator', 'api_key_name': 'TheQuickBrownFoxJumpsOverTheLazyDog'}",
    "{'key': 'region', 'token_count': 1024, 'secret_santa': True, 'password_min_length': 12}",
    "ValueError: Invalid value for 'password': expected str, got NoneType",
    "日本語のテキスト — naïve café, İstanbul, straße, emoji 🎉 and Ωmega",
    "",
]


@pytest.mark.parametrize("text", NEGATIVE, ids=range(len(NEGATIVE)))
def test_ordinary_text_is_untouched(text):
    assert redact(text) == Redaction(text, ())


def all_positive_texts() -> list[str]:
    texts = [context(credential) for _, credential, _ in TOKENS for context in CONTEXTS]
    texts += [context(url) for url, _, _ in URLS for context in CONTEXTS]
    texts += ['password="hunter2!x"', f"AWS_SECRET_ACCESS_KEY={rand(ALNUM, 40)}", f"token: {rand(ALNUM, 30)}"]
    return texts


def test_redaction_is_idempotent():
    for text in all_positive_texts():
        once = redact(text)
        assert once.kinds
        assert redact(once.text) == Redaction(once.text, ())
    once = redact_value("password", "'hunter2!x'")
    assert redact_value("password", once.text) == Redaction(once.text, ())


def test_markers_alone_are_never_flagged():
    kinds = ["password", "high-entropy-secret", "secret", "api-key", "connection-string-password", "private-key"]
    text = "\n".join(f"{k} = '[REDACTED:{k}]'\n{k}: [REDACTED:{k}]\n{{'{k}': '[REDACTED:{k}]'}}" for k in kinds)
    assert redact(text) == Redaction(text, ())


def test_unicode_text_around_secrets():
    key = "sk-ant-api03-" + rand(URLSAFE, 93) + "AA"
    text = f"İİ ünïcödé 日本 🎉 ANTHROPIC_API_KEY={key} ß\npassword='hunter2!x' → ok"
    result = redact(text)
    assert (
        result.text == "İİ ünïcödé 日本 🎉 ANTHROPIC_API_KEY=[REDACTED:anthropic-api-key] ß\n"
        "password='[REDACTED:password]' → ok"
    )
    assert result.kinds == ("anthropic-api-key", "password")


def test_kinds_follow_text_order_with_one_entry_per_secret():
    first, second = "ghp_" + rand(ALNUM, 36), "ghp_" + rand(ALNUM, 36)
    result = redact(f"a = '{first}'\nb = 'AKIA{rand(string.ascii_uppercase, 16)}'\nc = '{second}'")
    assert result.kinds == ("github-token", "aws-access-key", "github-token")


def test_a_key_in_a_secret_named_binding_is_named_by_provider():
    key = "sk-ant-api03-" + rand(URLSAFE, 93) + "AA"
    assert redact(f'client = anthropic.Anthropic(api_key="{key}")').kinds == ("anthropic-api-key",)


@pytest.mark.parametrize(
    "name",
    [
        "api_key",
        "apiKey",
        "API_KEY",
        "apikey",
        "db_password",
        "PGPASSWORD",
        "auth_token",
        "authToken",
        "x-auth-token",
        "client_secret",
        "SECRET",
        "credentials",
        "creds",
        "pwd",
        "passwd",
        "private_key",
        "AWS_SECRET_ACCESS_KEY",
        "bearer",
        "refresh_token",
        "HF_TOKEN",
        "key",
        "keys",
        "sort_key",
        "token",
    ],
)
def test_secret_names(name):
    assert SECRET_NAME.search(name)


@pytest.mark.parametrize(
    "name",
    [
        "keyboard",
        "monkey",
        "turkey",
        "author",
        "authority",
        "tokenizer",
        "passenger",
        "compass",
        "valid_tokenizer",
        "df",
    ],
)
def test_ordinary_names(name):
    assert SECRET_NAME.search(name) is None
