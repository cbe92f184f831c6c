"""A photo collection: one LanceDB table of CLIP vectors and image facts, searched by words or
by example.

Embedded by default: the database is a folder (``<POLYMODAL_HOME>/collections`` unless ``db``
says otherwise, which may also be an object-store URI LanceDB supports), one table per
collection, no server to run. A collection remembers the model that made its vectors and never
mixes in another's (the similarities would be meaningless). Writers take the collection's lock
(:mod:`polymodal.search.lock`); readers never wait.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from polymodal.config import settings
from polymodal.errors import BadInputError, require
from polymodal.progress import CancelToken, ProgressCallback, Reporter
from polymodal.search import ann, distributed, filters, ingest, relevance
from polymodal.search.lock import is_local, writer_lock
from polymodal.search.query import nearest
from polymodal.search.records import CollectionStats, Hit, IndexReport, SearchResult
from polymodal.search.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Header,
    check_version,
    header_updates,
    read_header,
    table_schema,
)
from polymodal.vision import embed_images, embed_texts, get_encoder

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_HIT_COLUMNS = [
    "path",
    "width",
    "height",
    "date",
    "camera_make",
    "camera_model",
    "vector",
    "_distance",
]


def candidates(k: int) -> int:
    """Nearest rows fetched for ``k`` hits: the confidence is judged on each (a high score can
    still lose to the background), so a few more than ``k`` are read; each costs a full vector
    read, about as much as the whole search for 100 of them (16 ms against 10 on 100k rows)."""
    return max(2 * k, 20)


#: Images sampled to find a collection's centroid (the background for search by example).
_CENTROID_SAMPLE = 2048
_centroids: dict[tuple[str, str, int], np.ndarray] = {}


def default_db() -> str:
    """Where collections live unless told otherwise: ``<POLYMODAL_HOME>/collections``."""
    return str(settings().home / "collections")


def check_name(name: str) -> str:
    """A collection name is a plain name (letters, digits, ``-``, ``_``), never a path."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise BadInputError(
            f"'{name}' is not a collection name: use letters, digits, '-' and '_' "
            "(at most 64, starting with a letter or digit), not a path.",
            param="collection",
        )
    return name


def _db_uri(db: str | os.PathLike[str] | None) -> str:
    if db is None:
        return default_db()
    uri = str(db)
    if is_local(uri):
        path = Path(uri.removeprefix("file://")).expanduser()
        if path.exists() and not path.is_dir():
            raise BadInputError(f"The database path {path} is a file, not a folder.", param="db")
        return str(path.resolve())
    return uri


def list_collections(db: str | os.PathLike[str] | None = None) -> list[str]:
    """The names of the collections in a database folder (empty when it has none)."""
    uri = _db_uri(db)
    if is_local(uri) and not Path(uri).is_dir():
        return []
    return sorted(_table_names(_connect(uri)))


def _table_names(connection: Any) -> list[str]:
    """Every table's name, page by page (``list_tables`` pages; ``table_names`` is deprecated)."""
    names: list[str] = []
    token = None
    while True:
        page = connection.list_tables(page_token=token)
        names.extend(page.tables)
        token = page.page_token
        if not token:
            return names


def _connect(uri: str) -> Any:
    # LanceDB's Rust core logs warnings (such as "No existing dataset ... will be created" on
    # every new table) straight to stderr; ours are the sentences a user should see.
    os.environ.setdefault("LANCE_LOG", "error")
    lancedb = require("lancedb", "search")
    return lancedb.connect(uri)


class Collection:
    """A named photo collection in a LanceDB database.

    ``model`` (a catalogue name, a checkpoint folder or a loaded encoder) chooses the CLIP model
    for a new collection (default: the configured one); an existing collection uses the model
    it was built with, and naming a different one is an error. Nothing is opened until a
    method needs it, so constructing one is free.
    """

    def __init__(
        self,
        name: str = "photos",
        *,
        db: str | os.PathLike[str] | None = None,
        model: Any = None,
    ) -> None:
        self.name = check_name(name)
        self.uri = _db_uri(db)
        self._model = model
        self._encoder: Any = None
        self._connection: Any = None

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, db={self.uri!r})"

    # --- opening ------------------------------------------------------------------------

    def _db(self) -> Any:
        """The database connection, made once per object (each connect costs about 0.7 ms)."""
        if self._connection is None:
            self._connection = _connect(self.uri)
        return self._connection

    def exists(self) -> bool:
        if is_local(self.uri) and not Path(self.uri).is_dir():
            return False
        return self.name in _table_names(self._db())

    def _table(self) -> Any:
        return self._opened()[0]

    def _opened(self) -> tuple[Any, Header]:
        """The collection's table, migrated to this layout, and its header, from one open (a
        search opens it once: listing, reopening and rereading the schema cost a third of a
        search on a small collection); an unknown name is an error."""
        try:
            table = self._db().open_table(self.name) if self.exists() else None
        except ValueError as exc:  # dropped between the listing and the open
            if "not found" not in str(exc):
                raise
            table = None
        if table is None:
            known = list_collections(self.uri)
            listing = f"; collections there: {', '.join(known)}" if known else ""
            raise BadInputError(
                f"There is no collection '{self.name}' in {self.uri}{listing}. "
                "Create it with polymodal index.",
                param="collection",
            )
        header = read_header(table.schema, self.name)
        check_version(header, self.name)
        if header.version < SCHEMA_VERSION:
            self._migrate(table, header)
            header = read_header(table.schema, self.name)
        return table, header

    def _migrate(self, table: Any, header: Header) -> None:
        with writer_lock(self.uri, self.name):
            for version in range(header.version, SCHEMA_VERSION):
                MIGRATIONS[version](table)
            upgraded = Header(header.model, header.model_id, header.dim, SCHEMA_VERSION)
            table.update_field_metadata(header_updates(upgraded))

    def header(self) -> Header:
        return self._opened()[1]

    def encoder(self, header: Header | None = None) -> Any:
        """The collection's CLIP encoder (loaded once per object); ``header``, when the caller
        has the table open, saves opening it again."""
        if self._encoder is None:
            if header is None and self.exists():
                header = self.header()
            if header is not None:
                self._encoder = (
                    _load_encoder(header) if self._model is None else get_encoder(self._model)
                )
                _same_model(self._encoder, header, self.name)
            else:
                self._encoder = get_encoder(self._model)
        return self._encoder

    def _create(self) -> tuple[Any, Header]:
        encoder = self.encoder()
        header = Header(
            model=_model_ref(self._model, encoder), model_id=encoder.model_id, dim=int(encoder.dim)
        )
        schema = table_schema(header)
        return self._db().create_table(self.name, schema=schema, exist_ok=True), header

    # --- writing ------------------------------------------------------------------------

    def add(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        batch_size: int = 32,
        ray: bool = False,
        address: str | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> IndexReport:
        """Bring the collection up to date with image files and folders (see
        :mod:`polymodal.search.ingest`): new and changed images embedded, moved ones re-pointed,
        removed ones (inside the folders given) deleted, unchanged ones not read.

        ``ray=True`` embeds on a Ray cluster (``address``: see :func:`polymodal.scale.connect`)
        by a pool of actors, each loading the model once; this process plans and writes, so
        the collection is the one the local path builds.
        """
        started = time.monotonic()
        files, roots = ingest.scan(paths)
        with writer_lock(self.uri, self.name):
            table, header = self._opened() if self.exists() else self._create()
            if self._model is not None:
                self.encoder(header)  # a model named for an existing collection must be its own
            schema = table.schema
            plan = ingest.plan_ingest(
                files,
                roots,
                ingest.stored_rows(table),
                reporter=Reporter(progress, "scan", "files", cancel),
            )
            ingest.write_reused(table, plan, schema)
            ingest.delete_removed(table, plan.removed)
            todo = [facts.path for facts in plan.embed]
            options = {"batch_size": batch_size, "progress": progress, "cancel": cancel}
            if not todo:
                batches: Any = ()
            elif ray:
                batches = distributed.embed_on_ray(todo, header, address=address, **options)
            else:
                batches = ingest.embed_locally(todo, self.encoder(header), **options)
            ingest.write_embedded(table, plan, schema, batches)
            index = ann.refresh_index(table)
            if index == "none" and (plan.embedded or plan.reuse or plan.removed):
                table.optimize()  # compact the batches' small files
            total = table.count_rows()
        return _report(self.name, plan, index, total, time.monotonic() - started)

    def remove(self, paths: Sequence[str | os.PathLike[str]]) -> int:
        """Drop images (by path, or every image under a folder); returns how many went."""
        table = self._table()
        wanted = [str(Path(p).expanduser().resolve()) for p in paths]
        stored = ingest.stored_rows(table)
        gone = [p for p in stored if p in wanted or any(p.startswith(w + os.sep) for w in wanted)]
        with writer_lock(self.uri, self.name):
            ingest.delete_removed(table, gone)
        return len(gone)

    def optimize(self) -> str:
        """Build (or refresh) the vector index now, whatever the table's size."""
        table = self._table()
        with writer_lock(self.uri, self.name):
            return ann.refresh_index(table, force=True)

    # --- reading ------------------------------------------------------------------------

    def stats(self) -> CollectionStats:
        table, header = self._opened()
        indexed = any("vector" in index.columns for index in table.list_indices())
        return CollectionStats(
            name=self.name,
            model=header.model,
            model_id=header.model_id,
            dim=header.dim,
            images=table.count_rows(),
            schema_version=header.version,
            indexed=indexed,
            uri=self.uri,
        )

    def search(
        self,
        text: str | None = None,
        *,
        image: str | os.PathLike[str] | None = None,
        k: int = 20,
        where: str | None = None,
        after: str | date | None = None,
        before: str | date | None = None,
        camera: str | None = None,
        min_score: float | None = None,
    ) -> SearchResult:
        """The images that match words (``text``) or look like an example (``image``).

        Only confident hits come back (see :mod:`polymodal.search.relevance`); when none is,
        ``hits`` is empty and ``message`` says so. ``min_score`` replaces the confidence cutoff
        with a cosine-similarity floor (``min_score=0`` returns the ``k`` nearest whatever they
        are). ``where`` is a SQL filter on the stored columns; ``after``/``before`` bound the
        capture date (EXIF, else the file's time); ``camera`` matches make or model.
        """
        if (text is None) == (image is None):
            raise BadInputError("Search by text or by an image: give exactly one.", param="query")
        if k < 1:
            raise BadInputError(f"The number of results must be at least 1, not {k}.", param="k")
        table, header = self._opened()
        encoder = self.encoder(header)
        expression = filters.compose(where, after=after, before=before, camera=camera)
        filters.check(table, expression)
        if text is not None:
            if not text.strip():
                raise BadInputError("The search text is empty.", param="query")
            query = embed_texts([text], model=encoder)[0]
            backdrop = relevance.background(
                embed_texts(list(relevance.NEUTRAL_CAPTIONS), model=encoder)
            )
            kind, label = "text", text
        else:
            query = _example_vector(image, encoder)
            backdrop = self._centroid(table)
            kind, label = "image", str(image)
        return self._nearest(table, query, backdrop, kind, label, k, expression, min_score)

    def _nearest(
        self,
        table: Any,
        query: np.ndarray,
        backdrop: np.ndarray,
        kind: str,
        label: str,
        k: int,
        expression: str | None,
        min_score: float | None,
    ) -> SearchResult:
        rows = table.count_rows()
        matching = table.count_rows(expression) if expression and rows >= ann.ANN_MIN_ROWS else None
        found = nearest(
            self.uri,
            self.name,
            query,
            columns=_HIT_COLUMNS,
            limit=candidates(k),
            rows=rows,
            where=expression,
            matching=matching,
        )
        vectors = ingest.vector_matrix(found.column("vector"))
        scores = 1.0 - np.asarray(found.column("_distance").to_pylist(), dtype=np.float32)
        sure = relevance.confidences(query, vectors, backdrop, self.encoder().logit_scale)
        keep = sure >= relevance.DEFAULT_CUTOFF if min_score is None else scores >= min_score
        data = found.drop_columns(["vector"]).to_pylist()
        picked = [i for i in np.argsort(-scores, kind="stable") if keep[i]][:k]
        hits = tuple(_hit(rank, data[i], scores[i], sure[i]) for rank, i in enumerate(picked, 1))
        return SearchResult(
            collection=self.name,
            query=label,
            kind=kind,
            hits=hits,
            cutoff=_cutoff(min_score),
            considered=len(data),
            best_score=float(scores.max()) if len(scores) else None,
            best_confidence=float(sure.max()) if len(sure) else None,
            message=None if hits else _nothing(self.name, label, scores, sure, expression),
        )

    def _centroid(self, table: Any) -> np.ndarray:
        """The collection's mean image direction, from a sample (cached per table version)."""
        key = (self.uri, self.name, table.version)
        if key not in _centroids:
            rows = table.count_rows()
            if rows == 0:
                return np.zeros(self.encoder().dim, dtype=np.float32)
            picks = np.random.default_rng(0).choice(rows, min(rows, _CENTROID_SAMPLE), False)
            data = table.take_offsets(sorted(int(i) for i in picks)).select(["vector"])
            _centroids[key] = relevance.background(ingest.vector_matrix(data.to_arrow()["vector"]))
        return _centroids[key]


def _same_model(encoder: Any, header: Header, name: str) -> None:
    if encoder.model_id != header.model_id:
        raise BadInputError(
            f"Collection '{name}' holds vectors of {header.model_id}, not of "
            f"{encoder.model_id}; a collection never mixes models. Search it without choosing "
            "a model, or index into a new collection.",
            param="model",
        )


def _model_ref(model: Any, encoder: Any) -> str:
    """How to load the model again: its catalogue name or its folder as an absolute path (an
    encoder object is traced back through its id, ``name`` or ``local:<folder>@<print>``)."""
    if isinstance(model, str | os.PathLike):
        path = Path(model).expanduser()
        return str(path.resolve()) if path.exists() else str(model)
    if model is None:
        return settings().clip_model
    model_id = str(getattr(encoder, "model_id", model)).removesuffix("+int8")
    return (
        model_id.removeprefix("local:").rsplit("@", 1)[0]
        if model_id.startswith("local:")
        else model_id
    )


def _load_encoder(header: Header) -> Any:
    """The encoder a collection was built with (int8 when its vectors came from int8)."""
    return get_encoder(header.model, int8=header.model_id.endswith("+int8"))


def _example_vector(image: str | os.PathLike[str], encoder: Any) -> np.ndarray:
    found = embed_images([image], model=encoder)
    if not len(found):
        reason = found.failures[0].reason if found.failures else f"'{image}' cannot be read"
        raise BadInputError(f"The query image cannot be used: {reason}", param="image")
    return found.vectors[0]


def _hit(rank: int, row: dict[str, Any], score: float, confidence: float) -> Hit:
    camera = " ".join(p for p in (row.get("camera_make"), row.get("camera_model")) if p)
    return Hit(
        rank=rank,
        path=row["path"],
        score=round(float(score), 4),
        confidence=round(float(confidence), 4),
        width=int(row["width"]),
        height=int(row["height"]),
        date=row.get("date"),
        camera=camera or None,
    )


def _cutoff(min_score: float | None) -> str:
    if min_score is None:
        return f"confidence >= {relevance.DEFAULT_CUTOFF}"
    return f"score >= {min_score}"


def _nothing(
    name: str, label: str, scores: np.ndarray, sure: np.ndarray, expression: str | None
) -> str:
    if not len(scores):
        where = " passes the filter" if expression else " is indexed"
        return f"Nothing in collection '{name}'{where}, so nothing matches '{label}'."
    return (
        f"Nothing in collection '{name}' matches '{label}' confidently (best score "
        f"{scores.max():.3f}, confidence {sure.max():.2f}); a minimum score (such as 0) "
        "shows the nearest images anyway."
    )


def _report(name: str, plan: ingest.Plan, index: str, total: int, seconds: float) -> IndexReport:
    return IndexReport(
        collection=name,
        added=plan.added,
        updated=plan.updated,
        moved=plan.moved,
        removed=len(plan.removed),
        unchanged=plan.unchanged,
        skipped=tuple(plan.skipped),
        embedded=plan.embedded,
        seconds=round(seconds, 3),
        total=total,
        index=index,
    )
