"""How long secret redaction takes on the texts it sees: variable previews, cell sources, outputs.

Budgets: ~10 µs for a clean 100-character string, 2 ms for a clean 10 KB output, 50 ms for a 1,000-variable
kernel snapshot. Each figure is the best of several timed repeats (µs per call), so noise from other processes
inflates none of them. Also reports the one-off import cost (detect-secrets pulls in requests and PyYAML).

    python benchmarks/bench_redact.py [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import string
import subprocess
import sys
import timeit

from jupyter_layers.redact import redact, redact_value

RNG = random.Random(7)
ALNUM = string.ascii_letters + string.digits

SHORT_CLEAN = [
    "df = pd.read_csv('data/sales_2023.csv', parse_dates=['date']); df.groupby('region').sum()",
    "<DataFrame 120000 rows x 14 columns: date, region, store_id, units, price, discount, revenue>",
    "[0.12345678, 0.98765432, 3.14159265, 2.71828183, 1.41421356, 1.73205081, 2.23606798, 0.5]",
    "'/home/ada/projects/churn/data/processed/train_2023_v2.parquet'",
    "array([[1., 0., 0.], [0., 1., 0.], [0., 0., 1.]]) dtype=float64 shape=(3, 3)",
]
SHORT_WITH_NAME_WORD = "for key, value in sorted(stats.items(), key=lambda kv: kv[1]): print(key, value)"
SHORT_SECRET = f'client = anthropic.Anthropic(api_key="sk-ant-api03-{"".join(RNG.choices(ALNUM, k=93))}AA")'


def dataframe_repr(size: int) -> str:
    """A pandas-like repr with long float columns."""
    lines = ["      price      volume   ratio_a          ratio_b  region"]
    i = 0
    while sum(map(len, lines)) < size:
        lines.append(
            f"{i:<5} {RNG.uniform(1, 500):10.6f} {RNG.uniform(0, 1e5):10.1f} {RNG.random():.9f} "
            f"{RNG.random() * 10:.14f}  region_{i % 7}"
        )
        i += 1
    return "\n".join(lines)[:size]


def python_source(size: int) -> str:
    """Notebook-style code that uses key, token and password as ordinary names."""
    block = (
        "tokenizer = AutoTokenizer.from_pretrained('bert-base-uncased')\n"
        "tokens = tokenizer(texts, padding=True, truncation=True, max_length=512)\n"
        "for key, value in sorted(metrics.items(), key=lambda kv: kv[1]):\n"
        "    print(f'{key:>20}: {value:.4f}')\n"
        "password = getpass.getpass('Password: ')\n"
        "conn = psycopg2.connect(host=host, user=user, password=password)\n"
        "df = pd.read_sql('select * from sales where region = %s', conn, params=[region])\n"
        "api_key = os.environ['OPENAI_API_KEY']\n\n"
    )
    return (block * (size // len(block) + 1))[:size]


def json_records(size: int) -> str:
    """Worst realistic case: a JSON output where every record has a `key` and a `token_count`."""
    records = []
    while sum(map(len, records)) < size:
        records.append(
            json.dumps({"key": f"doc-{len(records)}", "token_count": RNG.randint(10, 900), "score": RNG.random()})
        )
    return "\n".join(records)[:size]


def with_secrets(size: int) -> str:
    """A traceback-sized output with a dozen credentials of different kinds sprinkled in."""
    secrets = [
        "sk-proj-" + "".join(RNG.choices(ALNUM, k=120)),
        "ghp_" + "".join(RNG.choices(ALNUM, k=36)),
        "AKIA" + "".join(RNG.choices(string.ascii_uppercase, k=16)),
        "postgresql://ada:Hunter2!x@db.internal:5432/sales",
        "Authorization: Bearer " + "".join(RNG.choices(ALNUM, k=40)),
        "password='hunter2!x'",
    ]
    planted = [secrets[i % len(secrets)] for i in range(2 * len(secrets))]
    step = (size - sum(len(secret) + 2 for secret in planted)) // len(planted)
    filler = dataframe_repr(size)
    text = "".join(f"{filler[i * step : (i + 1) * step]}\n{secret}\n" for i, secret in enumerate(planted))
    return text + filler[: size - len(text)]


def snapshot(count: int) -> list[tuple[str, str]]:
    """(name, preview) pairs like a kernel snapshot: mostly data, some secret-looking names."""
    names = [
        "df",
        "df_sales",
        "model",
        "X_train",
        "y",
        "config",
        "tokens",
        "api_key",
        "sort_key",
        "results",
        "i",
        "path",
    ]
    previews = SHORT_CLEAN + [
        "42",
        "'hello world'",
        "{'lr': 0.001, 'epochs': 10, 'batch_size': 32}",
        "'" + base64.b64encode(RNG.randbytes(24)).decode() + "'",
    ]
    return [(f"{RNG.choice(names)}_{i}" if i % 3 else RNG.choice(names), RNG.choice(previews)) for i in range(count)]


def best(call, repeat: int, number: int) -> float:
    """Microseconds per call, best of `repeat` runs of `number` calls."""
    return min(timeit.repeat(call, repeat=repeat, number=number)) / number * 1e6


def import_ms() -> float:
    """The one-off cost of importing the module in a fresh interpreter (detect-secrets included)."""
    code = "import time; t = time.perf_counter(); import jupyter_layers.redact; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    big = {
        "clean 10 KB DataFrame repr": dataframe_repr(10_000),
        "clean 10 KB Python source (key/token/password names)": python_source(10_000),
        "clean 10 KB JSON records (a `key` per line)": json_records(10_000),
        "10 KB DataFrame repr with 12 secrets": with_secrets(10_000),
    }
    for text in big.values():
        assert len(text) == 10_000
    variables = snapshot(1000)
    results = {
        "clean ~90-char string (mean of 5 kinds)": sum(
            best(lambda t=t: redact(t), args.repeat, 20_000) for t in SHORT_CLEAN
        )
        / len(SHORT_CLEAN),
        "~80-char code line with `key=` names": best(lambda: redact(SHORT_WITH_NAME_WORD), args.repeat, 20_000),
        "~150-char line with an Anthropic key": best(lambda: redact(SHORT_SECRET), args.repeat, 20_000),
        **{name: best(lambda t=text: redact(t), args.repeat, 200) for name, text in big.items()},
        "1,000-variable snapshot (redact_value each)": best(
            lambda: [redact_value(n, v) for n, v in variables], args.repeat, 10
        ),
    }
    found = {name: len(redact(text).kinds) for name, text in big.items()}
    results_ms = {"import jupyter_layers.redact (fresh interpreter), ms": import_ms()}
    if args.json:
        print(json.dumps({"us_per_call": results, "secrets_found": found, **results_ms}, indent=2))
        return
    print(f"Python {sys.version.split()[0]}, best of {args.repeat} repeats")
    rows = [(name, f"{micros:.1f} µs") for name, micros in results.items()]
    rows += [(f"secrets found in {name}", str(count)) for name, count in found.items()]
    rows += [(name, f"{millis:.1f}") for name, millis in results_ms.items()]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:{width}s} {value:>12s}")


if __name__ == "__main__":
    main()
