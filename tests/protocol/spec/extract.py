"""Cut the response schemas autan serves out of Mistral's OpenAPI documents: for each
response schema name, its JSON Schema with every ``$ref`` it reaches, and without the prose
(descriptions, titles, examples), which says nothing about what is valid. Needs PyYAML (a
test dependency, through schemathesis), which autan itself does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Component name -> the spec it comes from: fine-tuning lives in the legacy document.
RESPONSES = {
    "ChatCompletionResponse": "current",
    "FIMCompletionResponse": "current",
    "CompletionChunk": "current",
    "EmbeddingResponse": "current",
    "ModelList": "current",
    "BaseModelCard": "current",
    "FTModelCard": "current",
    "DeleteModelResponse": "current",
    "CreateFileResponse": "current",
    "GetFileResponse": "current",
    "ListFilesResponse": "current",
    "DeleteFileResponse": "current",
    "GetSignedUrlResponse": "current",
    "BatchJob": "current",
    "ListBatchJobsResponse": "current",
    "DeleteBatchJobResponse": "current",
    "APIKeyOUT": "current",
    "APIKeysExtendedOUT": "current",
    "DeleteAPIKeyOUT": "current",
    "WorkspaceOUT": "current",
    "WorkspaceEnrichedOUT": "current",
    "WorkspacesOut": "current",
    "RateLimitsOUT": "current",
    "LimitsOUT": "current",
    "UsageOUTJSON": "current",
    "AuditLogOut": "current",
    "JobsOut": "legacy",
    "CompletionJobOut": "legacy",
    "CompletionDetailedJobOut": "legacy",
    "LegacyJobMetadataOut": "legacy",
    "CompletionFTModelOut": "legacy",
    "ArchiveFTModelOut": "legacy",
    "UnarchiveFTModelOut": "legacy",
}
_PROSE = {"description", "title", "example", "examples"}
_BOUNDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}


def _strip(node: Any, *, names: bool = False) -> Any:
    """``node`` without prose; ``names``: it maps field names to schemas (keep every key)."""
    if isinstance(node, dict):
        return {
            # YAML 1.1 reads 1e-08 as a string: a bound is a number.
            k: float(v)
            if k in _BOUNDS and isinstance(v, str) and not names
            else _strip(v, names=k == "properties" and not names)
            for k, v in node.items()
            if names or k not in _PROSE
        }
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[1]} if isinstance(node.get("$ref"), str) else set()
        for v in node.values():
            found |= _refs(v)
        return found
    if isinstance(node, list):
        return set().union(*map(_refs, node)) if node else set()
    return set()


def _closure(components: dict[str, Any], names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = _strip(components[name])
        todo += sorted(_refs(out[name]) - out.keys())
    return dict(sorted(out.items()))


def response_schemas(current: Path, legacy: Path) -> dict[str, dict[str, Any]]:
    """For each document, the response schemas autan serves with every schema they reach."""
    import yaml

    documents = {"current": current, "legacy": legacy}
    result: dict[str, dict[str, Any]] = {}
    for which, path in documents.items():
        components = yaml.safe_load(path.read_text())["components"]["schemas"]
        names = [n for n, w in RESPONSES.items() if w == which]
        result[which] = _closure(components, names)
    return result
