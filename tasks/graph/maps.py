"""The test maps of the graph tasks: the zone-1 London Underground and an invented family tree.

The paper (Graves et al., Nature 2016, Fig. 2-3, ED Tables 3-5) tests traversal and shortest
path on the London Underground's zone-1 interchange map, with edges labelled by line and
direction, and inference on a family tree whose relations include 4-step ones such as
"maternal great uncle". Neither map was released; these are ours:

**Underground** (the three CSVs of nicola/tubemaps ``datasets/``, commit f20f2ad; not shipped
with memnets because their licence is unconfirmed: :func:`default_underground_dir` finds them):
stations with ``zone == 1`` (fare zone 1 exactly), the connections with both ends among them,
each row made two directed edges. A station keeps its id as its node label (ids are 1..303).
An edge's label is ``10 * line id + octant``, the octant (0 = north, 1 = north-east, ...,
7 = north-west) being the compass direction from source to destination from the stations'
latitude and longitude; so "Central line, heading east" is one label, unique among a station's
out-edges (a test holds that). Tower Gateway is left out: its only link (DLR) leaves zone 1.

**Family tree**: four generations. One founding couple; every couple has one son and one
daughter; each child of generations 1-2 marries someone from outside the tree (who has no
parents in it); generation 3 is unmarried: 22 people. Edge labels (single-edge relations 0..7):
father, mother, son, daughter, husband, wife, brother, sister. Named relations are fixed edge
sequences (e.g. maternal great uncle = mother, mother, father, son: the son of the maternal
grandmother's father); each takes a relation label (:func:`tasks.graph.generator.relation_table`),
so the network meets them in training on random graphs too. Node labels are 22 distinct labels
drawn with a fixed seed.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np

UNDERGROUND_ENV = "MEMNETS_UNDERGROUND_DIR"
UNDERGROUND_SOURCE = ("the datasets/ folder of github.com/nicola/tubemaps (commit f20f2ad; "
                      "london.stations.csv, london.lines.csv, london.connections.csv)")


def default_underground_dir() -> Path:
    """``$MEMNETS_UNDERGROUND_DIR``, else ``shared/data/london-underground`` beside the
    repository (where this project's data lives on its machines)."""
    if os.environ.get(UNDERGROUND_ENV):
        return Path(os.environ[UNDERGROUND_ENV])
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "london-underground"


UNDERGROUND_FILES = {
    "london.stations.csv": ("id", "latitude", "longitude", "name", "zone"),
    "london.lines.csv": ("line", "name"),
    "london.connections.csv": ("station1", "station2", "line"),
}

FATHER, MOTHER, SON, DAUGHTER, HUSBAND, WIFE, BROTHER, SISTER = range(8)
KINSHIP_EDGES = ("father", "mother", "son", "daughter", "husband", "wife", "brother", "sister")
NAMED_RELATIONS: dict[str, tuple[int, ...]] = {
    # 2 and 3 steps (in the table, so they can be queried; the test uses the 4-step ones)
    "maternal grandmother": (MOTHER, MOTHER),
    "paternal grandfather": (FATHER, FATHER),
    "maternal uncle": (MOTHER, BROTHER),
    "paternal aunt": (FATHER, SISTER),
    "maternal great grandfather": (MOTHER, MOTHER, FATHER),
    "maternal first cousin (female)": (MOTHER, BROTHER, DAUGHTER),
    # 4 steps
    "maternal great uncle": (MOTHER, MOTHER, FATHER, SON),
    "paternal great uncle": (FATHER, MOTHER, FATHER, SON),
    "maternal great aunt": (MOTHER, FATHER, MOTHER, DAUGHTER),
    "paternal great aunt": (FATHER, FATHER, FATHER, DAUGHTER),
    "maternal cousin's husband": (MOTHER, BROTHER, DAUGHTER, HUSBAND),
    "paternal cousin's wife": (FATHER, SISTER, SON, WIFE),
}
FAMILY_SEED = 13
FAMILY_GENERATIONS = 4


class MapDataError(ValueError):
    """A test-map file is missing or malformed; the message names the file and the fix."""


@dataclass(frozen=True)
class Station:
    id: int
    name: str
    latitude: float
    longitude: float
    zone: float


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise MapDataError(f"{path}: missing. The London Underground test map needs the CSVs of "
                           f"{UNDERGROUND_SOURCE}: put them in a folder and point "
                           f"task.underground_dir or ${UNDERGROUND_ENV} at it")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in columns if not rows or c not in rows[0]]
    if missing:
        raise MapDataError(f"{path}: no column(s) {missing}; expected a header with {list(columns)}")
    return rows


def _number(path: Path, row: int, column: str, value: str, kind=float):
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise MapDataError(f"{path}: row {row + 2}, column {column!r}: {value!r} is not a number; "
                           "restore the file from its source (see the README's checksums)") from None


def octant(a: Station, b: Station) -> int:
    """Compass direction from a to b in 8 sectors: 0 = north, 2 = east, 4 = south, 6 = west."""
    north = b.latitude - a.latitude
    east = (b.longitude - a.longitude) * math.cos(math.radians(a.latitude))
    bearing = math.degrees(math.atan2(east, north)) % 360.0
    return int(((bearing + 22.5) % 360.0) // 45.0)


def load_underground(directory: str | Path | None = None, zones: tuple[float, ...] = (1.0,)
                     ) -> tuple[nx.MultiDiGraph, dict[int, Station], dict[int, str]]:
    """The Underground restricted to ``zones``: graph (edge key = 10 * line + octant), stations
    by id, line names by id. Raises :class:`MapDataError` naming the file for a missing file,
    a missing column, a non-number or a connection to an unknown station or line."""
    directory = Path(directory) if directory else default_underground_dir()
    files = {name: directory / name for name in UNDERGROUND_FILES}
    rows = {name: _read_csv(path, UNDERGROUND_FILES[name]) for name, path in files.items()}
    st_path, ln_path, cn_path = files.values()
    stations = {}
    for i, r in enumerate(rows["london.stations.csv"]):
        sid = _number(st_path, i, "id", r["id"], int)
        stations[sid] = Station(sid, r["name"], _number(st_path, i, "latitude", r["latitude"]),
                                _number(st_path, i, "longitude", r["longitude"]),
                                _number(st_path, i, "zone", r["zone"]))
    lines = {_number(ln_path, i, "line", r["line"], int): r["name"]
             for i, r in enumerate(rows["london.lines.csv"])}
    graph = nx.MultiDiGraph()
    for i, r in enumerate(rows["london.connections.csv"]):
        a, b, line = (_number(cn_path, i, c, r[c], int) for c in ("station1", "station2", "line"))
        for ref, known, what in ((a, stations, "station"), (b, stations, "station"),
                                 (line, lines, "line")):
            if ref not in known:
                raise MapDataError(f"{cn_path}: row {i + 2} names {what} {ref}, which is not in "
                                   f"the {what}s file")
        if stations[a].zone not in zones or stations[b].zone not in zones:
            continue
        for u, v in ((a, b), (b, a)):
            graph.add_edge(u, v, key=10 * line + octant(stations[u], stations[v]), line=line)
    return graph, stations, lines


def underground_paths(graph: nx.MultiDiGraph, length: int) -> list[tuple[int, int]]:
    """Every (source, destination) pair whose shortest path has exactly ``length`` edges."""
    return sorted((s, d) for s, dists in nx.all_pairs_shortest_path_length(graph)
                  for d, k in dists.items() if k == length)


def family_tree() -> tuple[nx.MultiDiGraph, dict[int, str]]:
    """The invented family tree (see the module docstring): graph and a name per node label."""
    names: list[str] = []
    edges: list[tuple[int, int, int]] = []

    def person(name: str) -> int:
        names.append(name)
        return len(names) - 1

    def marry(husband: int, wife: int) -> None:
        edges.extend([(husband, WIFE, wife), (wife, HUSBAND, husband)])

    couples = [(person("g0 founder"), person("g0 founder's wife"))]
    marry(*couples[0])
    for generation in range(1, FAMILY_GENERATIONS):
        next_couples = []
        for c, (father, mother) in enumerate(couples):
            son = person(f"g{generation} son of couple {c}")
            daughter = person(f"g{generation} daughter of couple {c}")
            for child, down in ((son, SON), (daughter, DAUGHTER)):
                edges.extend([(father, down, child), (mother, down, child),
                              (child, FATHER, father), (child, MOTHER, mother)])
            edges.extend([(son, SISTER, daughter), (daughter, BROTHER, son)])
            if generation < FAMILY_GENERATIONS - 1:
                wife = person(f"g{generation} wife of {names[son]}")
                husband = person(f"g{generation} husband of {names[daughter]}")
                marry(son, wife)
                marry(husband, daughter)
                next_couples += [(son, wife), (husband, daughter)]
        couples = next_couples
    labels = np.random.default_rng(FAMILY_SEED).choice(1000, size=len(names), replace=False)
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(int(v) for v in labels)
    for u, edge, v in edges:
        graph.add_edge(int(labels[u]), int(labels[v]), key=edge)
    return graph, {int(labels[i]): n for i, n in enumerate(names)}
