"""Fine-tuned models in the database: what each serves (base GGUF + adapter) and who owns it."""

from __future__ import annotations

from sqlalchemy import select

from autan.errors import NotFound
from autan.fine_tuning.fine_tuning_job import FineTunedModel
from autan.fine_tuning.shared_blobs import BlobRef
from autan.storage.database import Database
from autan.storage.fine_tuning_tables import FineTunedModelRow
from autan.storage.tables import utcnow


class FineTunedModelStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, model: FineTunedModel) -> None:
        with self._db.session() as s, s.begin():
            s.add(
                FineTunedModelRow(
                    id=model.id,
                    workspace_id=model.workspace_id,
                    job_id=model.job_id,
                    root=model.root,
                    base_path=model.base_path,
                    adapter_path=model.adapter_path,
                    adapter_blob=None
                    if model.adapter_blob is None
                    else model.adapter_blob.to_json(),
                    name=model.name,
                    description=model.description,
                    archived=model.archived,
                    created_at=model.created_at or utcnow(),
                )
            )

    def all(self) -> list[FineTunedModel]:
        with self._db.session() as s:
            rows = s.scalars(select(FineTunedModelRow).order_by(FineTunedModelRow.created_at))
            return [_model(r) for r in rows]

    def get(self, model_id: str, workspace_id: str | None = None) -> FineTunedModel:
        """404 for an unknown id and for another workspace's model."""
        with self._db.session() as s:
            row = s.get(FineTunedModelRow, model_id)
            if row is None or (workspace_id is not None and row.workspace_id != workspace_id):
                raise NotFound("fine-tuned model", model_id)
            return _model(row)

    def update(self, model_id: str, **fields: object) -> FineTunedModel:
        with self._db.session() as s, s.begin():
            row = s.get(FineTunedModelRow, model_id)
            if row is None:
                raise NotFound("fine-tuned model", model_id)
            for key, value in fields.items():
                setattr(row, key, value)
        return self.get(model_id)

    def delete(self, model_id: str) -> bool:
        """Whether this call deleted it (False: gone already, deleted through another
        process)."""
        with self._db.session() as s, s.begin():
            row = s.get(FineTunedModelRow, model_id)
            if row is None:
                return False
            s.delete(row)
            return True


def _model(row: FineTunedModelRow) -> FineTunedModel:
    return FineTunedModel(
        id=row.id,
        workspace_id=row.workspace_id,
        job_id=row.job_id,
        root=row.root,
        base_path=row.base_path,
        adapter_path=row.adapter_path,
        adapter_blob=None if row.adapter_blob is None else BlobRef.from_json(row.adapter_blob),
        created_at=row.created_at,
        name=row.name,
        description=row.description,
        archived=row.archived,
    )
