"""A config value is a secret when its key is named like a credential in any style a provider
spells it (``api_key``, ``apiKey``, ``apikey``, ``X-Api-Key``, ``clientSecret``...), at any depth of
``extra_body`` or ``headers`` (RED-TEAM #13); an ordinary image parameter never is.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from imagegate import secret
from imagegate.config import is_credential_name, remember_secrets

from .support.faultserver import FaultServer, Reply
from .support.helpers import API_KEY

ROOT = Path(__file__).resolve().parents[1]

CREDENTIAL_NAMES = [
    "api_key", "apikey", "apiKey", "APIKey", "API_KEY", "ApiKey", "x-api-key", "X-Api-Key", "x_api_key_v2",
    "accessToken", "access_token", "ACCESSTOKEN", "authToken", "auth-token", "refresh_token", "token",
    "clientSecret", "client_secret", "webhook_secret", "secret", "secrets", "privateKey", "private-key",
    "password", "passwd", "pwd", "passphrase", "credentials", "sessionId", "session_id", "sessionid",
    "keyId", "access_key_id", "api_keys", "authorization", "cookie", "signature", "bearer", "token2",
    # a credential word anywhere in the name, joined pairs and plurals too (RED-TEAM 2, B1)
    "passPhrase", "pass_phrase", "passCode", "PassWord", "pass_word", "access_tokens", "refresh_tokens",
    "authTokens", "client_secret_b64", "api_key_b64", "private_key_pem", "privateKeyPem", "api_key_prod",
    "password_old", "secretKeyRef", "creds", "keyMaterial", "secret1_old", "jwt", "otp", "pin", "hmac",
    "api_k\u00e9y", "\uff41\uff50\uff49\uff3f\uff4b\uff45\uff59",
]  # fmt: skip

#: Parameters of the image APIs imagegate's recipes and plugins name (OpenAI, BFL, Together, xAI,
#: Gemini, Stability, fal, Replicate...), besides the ones read from the repository below.
ORDINARY_NAMES = [
    "size", "quality", "output_format", "user", "model", "prompt", "seed", "steps", "aspect_ratio",
    "safety_tolerance", "response_format", "input_fidelity", "n", "background", "moderation", "style",
    "output_compression", "partial_images", "stream", "mask", "image", "images", "negative_prompt",
    "guidance", "guidance_scale", "num_inference_steps", "prompt_upsampling", "raw", "image_prompt",
    "image_prompt_strength", "input_image", "webhook_url", "width", "height", "num_images", "cfg_scale",
    "sampler", "style_preset", "enable_safety_checker", "sync_mode", "image_size", "max_tokens",
    "max_output_tokens", "previous_response_id", "tool_choice", "image_model", "keyframes", "keyFrame",
    "json_image_key", "auth", "auth_header", "auth_scheme", "drop_params", "modalities", "image_config",
    "output_quality", "go_fast", "disable_safety_checker", "num_outputs", "megapixels", "strength",
    "num_tokens", "token_count", "tokens_per_min", "max_completion_tokens", "budget_tokens", "token_budget",
    "thinking_budget_tokens", "keyframes", "key_frames", "sort_key", "author", "authority", "spin",
]  # fmt: skip

#: The credential names the repository itself uses (headers and the key's own config key).
REAL_CREDENTIALS = {"api_key", "Authorization", "api-key", "x-key"}


def repository_names() -> set[str]:
    """Every key of the schemas, of the README's JSON recipes, and every field the adapters build
    or read (dict keys, subscripts, ``.get``) in providers/ and the example plugins."""
    names: set[str] = set()

    def keys(value: object) -> None:
        if isinstance(value, dict):
            names.update(value)
            for item in value.values():
                keys(item)
        elif isinstance(value, list):
            for item in value:
                keys(item)

    for path in [*ROOT.glob("schemas/*.json"), *ROOT.glob("examples/*/src/*/*.json")]:
        keys(json.loads(path.read_text(encoding="utf-8")))
    for block in re.findall(r"```json\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S):
        keys(json.loads(block))

    def text(node: ast.AST) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    for path in [*ROOT.glob("providers/**/*.py"), *ROOT.glob("examples/*/src/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                names.update(filter(None, map(text, node.keys)))
            elif isinstance(node, ast.Subscript) and text(node.slice):
                names.add(text(node.slice) or "")
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
                "get",
                "pop",
                "setdefault",
            ):
                names.update(filter(None, map(text, node.args[:1])))
    return names


@pytest.mark.parametrize("name", CREDENTIAL_NAMES)
def test_a_key_named_like_a_credential_in_any_style_is_a_secret(name) -> None:
    assert is_credential_name(name)


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_an_ordinary_image_parameter_is_not_a_secret(name) -> None:
    assert not is_credential_name(name)


def test_no_parameter_the_repository_names_is_taken_for_a_credential() -> None:
    names = repository_names()
    assert {"size", "safety_tolerance", "json_image_key", "drop_params"} <= names  # the harvest works
    assert {name for name in names if is_credential_name(name)} == REAL_CREDENTIALS


def test_dry_run_and_an_echoing_gateway_show_no_credential_from_extra_body(cli, make_config) -> None:
    values = {name: f"EB-{index:02d}-{name.upper()}-value" for index, name in enumerate(CREDENTIAL_NAMES)}
    extra = dict(values, nested={"deeper": [{"clientSecret": "EB-NESTED-clientsecret-1"}]})
    extra["credentials"] = {"user": "EB-INSIDE-credentials-u", "pass": "EB-INSIDE-credentials-p"}
    hidden = [
        *values.values(),
        "EB-NESTED-clientsecret-1",
        "EB-INSIDE-credentials-u",
        "EB-INSIDE-credentials-p",
    ]
    del values["credentials"]
    with FaultServer() as gateway:
        make_config(
            {
                "api_key": API_KEY,
                "provider": "compatible",
                "base_url": gateway.base_url,
                "model": "gpt-image-2",
                "extra_body": extra,
                "size": "1024x1024",
            }
        )
        dry = cli("--prompt", "p", "--out", "a.png", "--dry-run")
        gateway.generations(
            lambda request: Reply(status=400, body={"error": {"message": "got " + request.body.decode()}})
        )
        echoed = cli("--prompt", "p", "--out", "a.png", "--verbose")
    assert dry.code == 0, dry.err
    assert echoed.code == 3, echoed.err
    assert dry.json["body"]["size"] == "1024x1024"  # an ordinary parameter is shown as it is
    for text in (dry.out, dry.err, echoed.out, echoed.err):
        for value in hidden:
            assert value not in text and value[-12:] not in text, value


def test_an_auth_setting_naming_a_scheme_stays_readable_but_a_long_one_is_a_secret() -> None:
    remember_secrets(
        {"auth": "bearer", "extra_body": {"basicAuth": "EB-BASIC-AUTH-1234", "oauth": "api-key"}}
    )
    assert secret._known == {"EB-BASIC-AUTH-1234"}
    assert secret.redact("auth: bearer") == "auth: bearer"
