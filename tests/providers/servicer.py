"""Drive a dynamic provider through Pulumi's own gRPC servicer, as the engine does (in-process)."""

from __future__ import annotations

import asyncio
import pathlib
import types
from typing import Any

import pulumi.dynamic
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import proto, rpc
from pulumi.runtime._serialization import _serialize


class Aborted(Exception):
    def __init__(self, code: object, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _Context:
    def abort(self, code: object, details: str) -> None:
        raise Aborted(code, details)

    def set_code(self, code: object) -> None:
        pass

    def set_details(self, details: str) -> None:
        pass


def _load_servicer_module() -> types.ModuleType:
    """pulumi/dynamic/__main__.py calls main() at import; run it without that last line."""
    src = pathlib.Path(pulumi.dynamic.__file__).with_name("__main__.py").read_text().rstrip().splitlines()
    assert src[-1] == "main()"
    mod = types.ModuleType("dyn_servicer")
    exec(compile("\n".join(src[:-1]), "<pulumi.dynamic.__main__>", "exec"), mod.__dict__)  # noqa: S102
    return mod


def _struct(props: dict[str, Any]) -> Any:
    return asyncio.run(rpc.serialize_properties(props, {}))


def _plain(struct: Any) -> dict[str, Any]:
    return {k: v for k, v in rpc.deserialize_properties(struct, True).items() if k != "__provider"}


class Driver:
    """One provider process: a fresh servicer module (own provider cache), configured like the engine does."""

    def __init__(self, provider: pulumi.dynamic.ResourceProvider, config: dict[str, Any] | None = None) -> None:
        self.svc = _load_servicer_module().DynamicResourceProviderServicer()
        self.ctx = _Context()
        self.pickled, _ = _serialize(True, serialize_provider, provider)
        self.svc.Configure(proto.ConfigureRequest(args=_struct(config or {})), self.ctx)

    def _with(self, props: dict[str, Any]) -> Any:
        return _struct({**props, "__provider": self.pickled})

    def check(
        self, news: dict[str, Any], olds: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        req = proto.CheckRequest(urn="urn:test", olds=self._with(olds or {}), news=self._with(news))
        resp = self.svc.Check(req, self.ctx)
        return _plain(resp.inputs), [(f.property, f.reason) for f in resp.failures]

    def create(self, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        resp = self.svc.Create(proto.CreateRequest(urn="urn:test", properties=self._with(inputs)), self.ctx)
        return resp.id, _plain(resp.properties)

    def read(self, id_: str, outs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        req = proto.ReadRequest(id=id_, urn="urn:test", properties=self._with(outs), inputs=self._with(outs))
        resp = self.svc.Read(req, self.ctx)
        return resp.id, _plain(resp.properties)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> Any:
        req = proto.DiffRequest(id=id_, urn="urn:test", olds=self._with(olds), news=self._with(news))
        return self.svc.Diff(req, self.ctx)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        req = proto.UpdateRequest(id=id_, urn="urn:test", olds=self._with(olds), news=self._with(news))
        return _plain(self.svc.Update(req, self.ctx).properties)

    def delete(self, id_: str, outs: dict[str, Any]) -> None:
        self.svc.Delete(proto.DeleteRequest(id=id_, urn="urn:test", properties=self._with(outs)), self.ctx)
