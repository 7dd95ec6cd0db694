"""An error is one line whatever body came with it: the API's JSON, a proxy's HTML page, a gateway's text.

Proxies in front of a provider (nginx, Cloudflare, an AWS load balancer, Envoy) answer with their own pages; the
SDKs keep such a body as raw text, which must not become a message of markup.
"""

from __future__ import annotations

import pytest

from jupyter_layers import errors
from jupyter_layers.models import Failure, Message, Request
from jupyter_layers.models.anthropic import AnthropicProvider
from jupyter_layers.models.error_body import GATEWAY_HINT, LIMIT, one_line, with_status
from jupyter_layers.models.openai_compat import OpenAICompatProvider
from tests.conftest import API_KEY
from tests.fakes.model_server import Fault, item_from_json

NGINX_502 = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>nginx/1.25.3</center>
</body>
</html>
"""

CLOUDFLARE_524 = """<!DOCTYPE html>
<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->
<!--[if gt IE 8]><!--> <html class="no-js" lang="en-US"> <!--<![endif]-->
<head>
<title>llm.example.com | 524: A timeout occurred</title>
<meta charset="UTF-8" />
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
<meta name="robots" content="noindex, nofollow" />
<link rel="stylesheet" id="cf_styles-css" href="/cdn-cgi/styles/main.css" />
<style>body{margin:0;padding:0}</style>
</head>
<body>
<div id="cf-wrapper">
  <div id="cf-error-details" class="p-0">
    <header class="mx-auto pt-10 lg:pt-6 lg:px-8 w-240 lg:w-full mb-8">
      <h1 class="inline-block sm:block sm:mb-2 font-light text-60 lg:text-4xl text-black-dark leading-tight mr-2">
        <span class="inline-block">A timeout occurred</span>
        <span class="code-label">Error code 524</span>
      </h1>
      <div>Visit <a href="https://www.cloudflare.com/5xx-error-landing">cloudflare.com</a> for more information.</div>
      <div class="mt-3">2026-05-14 09:12:44 UTC</div>
    </header>
  </div>
</div>
<script>(function(){window._cf_chl_opt={cvId: '3'};})();</script>
</body>
</html>
"""

ALB_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
)

ENVOY = "upstream connect error or disconnect/reset before headers. reset reason: connection failure"


# --------------------------------------------------------------------------------------------------
# The pure function


@pytest.mark.parametrize(
    ("status", "body", "line"),
    [
        (502, NGINX_502, "502 Bad Gateway"),
        (524, CLOUDFLARE_524, "llm.example.com | 524: A timeout occurred"),
        (503, ALB_503, "503 Service Temporarily Unavailable"),
        (503, ENVOY, ENVOY),
        (502, "", "502 Bad Gateway"),
        (502, None, "502 Bad Gateway"),
        (524, "   \n", "524"),
        (502, NGINX_502.encode(), "502 Bad Gateway"),
    ],
)
def test_real_world_bodies_become_one_line(status, body, line):
    assert one_line(status, body) == line


def test_a_page_without_a_title_gives_its_heading_then_its_first_visible_line():
    heading = "<html><body><h1>Bad   Gateway</h1><p>The proxy received an invalid response.</p></body></html>"
    assert one_line(502, heading) == "502 Bad Gateway"
    paragraph = "<html><head><style>p {color: red}</style></head><body><p>Down &amp; out</p></body></html>"
    assert one_line(503, paragraph) == "503 Down & out"


def test_content_type_marks_a_fragment_as_html():
    assert one_line(502, "<b>Bad</b> gateway", "text/html; charset=utf-8") == "502 Bad gateway"


def test_plain_text_gives_its_first_meaningful_line_cut_to_the_limit():
    assert one_line(500, "\n-----\n  Service   unavailable\nretry later\n") == "Service unavailable"
    long = one_line(500, "x" * 1000)
    assert len(long) == LIMIT and long.endswith("…")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}},
            "Internal server error",
        ),
        ({"message": "model not loaded", "type": "invalid_request_error"}, "model not loaded"),  # openai's unwrapped
        ({"error": "model 'llama3' not found"}, "model 'llama3' not found"),  # Ollama
        ({"object": "error", "message": "The model does not exist.", "code": 404}, "The model does not exist."),  # vLLM
        ({"detail": "Not Found"}, "Not Found"),  # FastAPI gateways
        ({"detail": [{"loc": ["body", "model"], "msg": "field required"}]}, "field required"),
        ('{"error": {"message": "a JSON body left as text"}}', "a JSON body left as text"),
        ({"error": {"message": "line one\n  line two"}}, "line one line two"),
        ({"unexpected": 1}, '{"unexpected":1}'),
    ],
)
def test_json_bodies_keep_the_providers_message(body, message):
    assert one_line(400, body) == message


def test_with_status_names_the_status_once():
    assert with_status(502, "502 Bad Gateway") == "502 Bad Gateway"
    assert with_status(500, "Internal server error") == "500: Internal server error"


def test_a_fault_with_a_raw_body_survives_the_script_endpoint():
    fault = Fault(502, body=NGINX_502)
    assert fault.content_type == "text/html; charset=utf-8"
    assert Fault(503, body=ENVOY).content_type == "text/plain; charset=utf-8"
    assert item_from_json(fault.to_json()) == fault
    assert item_from_json(Fault(529).to_json()) == Fault(529)


# --------------------------------------------------------------------------------------------------
# Through the real SDKs


def anthropic(fake, **options):
    options = {"timeout": 5.0, "max_retries": 0, **options}
    return AnthropicProvider(API_KEY, fake.url, **options), "claude-sonnet-5-5"


def openai_compat(fake, **options):
    options = {"timeout": 5.0, "max_retries": 0, **options}
    return OpenAICompatProvider(fake.url + "/v1", API_KEY, **options), "llama3"


PROVIDERS = [anthropic, openai_compat]


def error_of(provider, model) -> errors.LayersError:
    events = list(provider.stream(Request(messages=(Message.user("Explain the traceback."),), model=model)))
    assert isinstance(events[-1], Failure), events[-1]
    line = str(events[-1].error)
    assert "\n" not in line and "<" not in line and "Traceback" not in line, line
    return events[-1].error


@pytest.mark.parametrize("make", PROVIDERS)
@pytest.mark.parametrize(
    ("fault", "kind", "words"),
    [
        (Fault(502, body=NGINX_502), errors.ProviderError, "502 Bad Gateway"),
        (Fault(524, body=CLOUDFLARE_524), errors.ProviderError, "524: A timeout occurred"),
        (Fault(500, body=ENVOY), errors.ProviderError, f"500: {ENVOY}"),
        (Fault(502, body=""), errors.ProviderError, "502 Bad Gateway"),
    ],
)
def test_a_proxy_page_is_one_line_with_status_and_title(fake, make, fault, kind, words):
    fake.script(fault)
    error = error_of(*make(fake))
    assert isinstance(error, kind)
    assert words in str(error) and error.hint == GATEWAY_HINT


@pytest.mark.parametrize("make", PROVIDERS)
def test_a_proxy_page_after_the_sdks_retries_is_still_one_line(fake, make):
    retried = Fault(502, body=NGINX_502, headers={"retry-after-ms": "10"})
    fake.script(retried, retried, retried)
    error = error_of(*make(fake, max_retries=2))
    assert "502 Bad Gateway" in str(error)
    assert len(fake.requests) == 3


def test_an_overloaded_load_balancer_is_an_overload_with_its_title(fake):
    fake.script(Fault(503, body=ALB_503))
    error = error_of(*openai_compat(fake))
    assert isinstance(error, errors.Overloaded)
    assert "(503 Service Temporarily Unavailable)" in str(error)


@pytest.mark.parametrize("make", PROVIDERS)
def test_a_gateway_404_page_says_status_and_title_not_that_the_model_is_unknown(fake, make):
    page = "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
    fake.script(Fault(404, body=page))
    provider, model = make(fake)
    error = error_of(provider, model)
    assert isinstance(error, errors.ModelNotFound)
    assert "404 Not Found" in str(error) and model in str(error) and "base URL" in error.hint


@pytest.mark.parametrize("make", PROVIDERS)
def test_json_errors_keep_the_providers_message_and_hint(fake, make):
    fake.script(Fault(400, message="messages.0.content: Input should be a valid list"))
    error = error_of(*make(fake))
    assert isinstance(error, errors.BadRequest)
    assert str(error).endswith(": messages.0.content: Input should be a valid list (hint: " + error.hint + ")")
    assert error.hint == errors.BadRequest.hint and "Error code" not in str(error)


def test_an_html_502_in_a_kernel_is_one_line_and_the_kernel_lives(kernel, fake):
    kernel.run("1 / 0")
    fake.script(Fault(502, body=NGINX_502))
    done = kernel.run("%escalate")
    assert done.reply["content"]["status"] == "ok" and not done.of_type("error")
    displays = done.of_type("display_data") + done.of_type("update_display_data")
    shown = done.stdout + done.stderr + "".join(m["content"]["data"].get("text/plain", "") for m in displays)
    assert "<" not in shown and "nginx" not in shown
    assert done.stderr.strip().splitlines() == [
        f"%escalate: Anthropic error 502 Bad Gateway (hint: {GATEWAY_HINT})",
    ]
    assert kernel.run("print(40 + 2)").stdout == "42\n"
