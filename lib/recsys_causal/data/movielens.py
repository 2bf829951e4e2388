"""MovieLens loaders: three file layouts in, one canonical (ratings, movies) pair out.

Layouts
-------
``csv``   ml-latest-small / ml-latest / ml-25m / ml-32m: ``ratings.csv`` (header
          ``userId,movieId,rating,timestamp``) and ``movies.csv`` (``movieId,title,genres``,
          titles with commas quoted, genres separated by ``|``). UTF-8.
``dat``   ml-1m: ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``) and ``movies.dat``
          (``MovieID::Title::Genres``), latin-1, no header.
``100k``  ml-100k: ``u.data`` (tab-separated ``user item rating timestamp``) and ``u.item``
          (pipe-separated, latin-1: id|title|release date|video release date|IMDb URL|19 genre
          flags in the order of `GENRES_100K`).

Canonical tables
----------------
ratings: ``userId`` int32, ``movieId`` int32, ``rating`` float32, ``timestamp`` int64 (Unix s).
movies:  ``movieId`` int32, ``title`` string, ``genres`` string (``|``-separated),
         ``primary_genre`` string (the first listed genre; MovieLens lists genres in a fixed,
         mostly alphabetical order, so this is a deterministic, documented choice, not a
         judgement of the "main" genre), ``n_genres`` int8.

Genre names are harmonised across layouts: ml-1m / ml-100k's ``Children's`` becomes
``Children`` (the ml-latest spelling) and ml-100k's ``unknown`` flag (or no flag) becomes
``(no genres listed)``.

Policies (recorded in `MovieLensData.report`)
---------------------------------------------
* Ratings whose movieId is absent from the movies file are **dropped** and counted
  (``ratings_unknown_movie``); if every rating would be dropped a `DataError` is raised.
* Repeated (userId, movieId) pairs keep the last row in file order and are counted
  (``ratings_duplicate_pairs``; zero in every published MovieLens release).
* A missing file, missing column, non-numeric or missing value, or a rating outside
  [0.5, 5] raises `DataError` with a one-line message naming the file, the column and what
  was expected.

The simulator (`recsys_causal.simulate.movielens`) writes the ``csv`` layout, and its files are
read by exactly this code.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from recsys_causal.data.errors import DataError

LAYOUTS = ("csv", "dat", "100k")
RATING_MIN, RATING_MAX = 0.5, 5.0
NO_GENRE = "(no genres listed)"

GENRES_100K: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
_GENRE_RENAME = {"Children's": "Children", "unknown": NO_GENRE}

# Files of each layout: (ratings file, movies file).
LAYOUT_FILES: dict[str, tuple[str, str]] = {
    "csv": ("ratings.csv", "movies.csv"),
    "dat": ("ratings.dat", "movies.dat"),
    "100k": ("u.data", "u.item"),
}
RATING_COLUMNS = ("userId", "movieId", "rating", "timestamp")
MOVIE_COLUMNS = ("movieId", "title", "genres")


@dataclass
class MovieLensData:
    """Canonical MovieLens tables plus what the loader saw (layout, counts, dropped rows)."""

    ratings: pd.DataFrame
    movies: pd.DataFrame
    layout: str
    folder: Path
    report: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Layout detection and cheap validation
# ----------------------------------------------------------------------------------------------
def detect_layout(folder: str | Path) -> str:
    """Return ``csv``, ``dat`` or ``100k`` from the files present in `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"MovieLens folder '{folder}' does not exist or is not a folder")
    for layout in LAYOUTS:
        if (folder / LAYOUT_FILES[layout][0]).is_file():
            return layout
    expected = " or ".join(f"{r} + {m}" for r, m in LAYOUT_FILES.values())
    raise DataError(f"MovieLens folder '{folder}': no ratings file found; expected {expected}")


def _resolve_layout(folder: Path, layout: str) -> str:
    if layout == "auto":
        return detect_layout(folder)
    if layout not in LAYOUTS:
        raise DataError(f"unknown MovieLens layout '{layout}'; expected auto, csv, dat or 100k")
    return layout


def _first_line(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, errors="replace") as fh:
        return fh.readline().rstrip("\r\n")


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise DataError(f"{path}: file is missing (expected the {what})")


def _check_header(path: Path, required: tuple[str, ...]) -> None:
    header = [h.strip().strip('"') for h in _first_line(path, "utf-8").split(",")]
    for col in required:
        if col not in header:
            raise DataError(
                f"{path.name}: column '{col}' is missing from the header "
                f"(found {', '.join(header) or 'nothing'}; expected {', '.join(required)})"
            )


def _check_fields(path: Path, sep: str, n_fields: int, numeric: tuple[int, ...], names: tuple[str, ...]) -> None:
    line = _first_line(path, "latin-1")
    if not line:
        raise DataError(f"{path.name}: file is empty (expected rows like {sep.join(names)})")
    parts = line.split(sep)
    if len(parts) < n_fields:
        raise DataError(
            f"{path.name}: first line has {len(parts)} '{sep}'-separated fields "
            f"(expected {n_fields}: {', '.join(names)})"
        )
    for i in numeric:
        if not re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", parts[i]):
            raise DataError(f"{path.name}: column '{names[i]}' value {parts[i]!r} on line 1 is not numeric")


def validate_folder(folder: str | Path, layout: str = "auto") -> str:
    """Check that `folder` holds a MovieLens dataset in `layout` (files, headers, first lines).

    Cheap (reads one line per file), so the pipeline can call it before running anything.
    Returns the resolved layout; raises `DataError` naming the file and column otherwise.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"MovieLens folder '{folder}' does not exist or is not a folder")
    layout = _resolve_layout(folder, layout)
    rfile, mfile = (folder / f for f in LAYOUT_FILES[layout])
    _require_file(rfile, f"ratings file of the '{layout}' layout")
    _require_file(mfile, f"movies file of the '{layout}' layout")
    if layout == "csv":
        _check_header(rfile, RATING_COLUMNS)
        _check_header(mfile, MOVIE_COLUMNS)
    elif layout == "dat":
        _check_fields(rfile, "::", 4, (0, 1, 2, 3), ("UserID", "MovieID", "Rating", "Timestamp"))
        _check_fields(mfile, "::", 3, (0,), ("MovieID", "Title", "Genres"))
    else:
        _check_fields(rfile, "\t", 4, (0, 1, 2, 3), ("user id", "item id", "rating", "timestamp"))
        names = ("movie id", "title", "release date", "video release date", "IMDb URL", *GENRES_100K)
        _check_fields(mfile, "|", 5 + len(GENRES_100K), (0,), names)
    return layout


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------
_COL_ERR = re.compile(r"CSV column #(\d+)")


def _read_table(
    source: Path | io.BytesIO,
    fname: str,
    *,
    names: list[str] | None,
    types: dict[str, pa.DataType],
    delimiter: str,
    quoting: bool,
    include: list[str] | None = None,
) -> pa.Table:
    """pyarrow CSV read with typed columns; conversion errors become DataError naming the column."""
    read = pacsv.ReadOptions(column_names=names, block_size=1 << 24)
    parse = pacsv.ParseOptions(delimiter=delimiter, quote_char='"' if quoting else False)
    convert = pacsv.ConvertOptions(
        column_types=types, include_columns=include, strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        return pacsv.read_csv(source, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        msg = str(exc).splitlines()[0]
        col = "?"
        m = _COL_ERR.search(msg)
        if m:
            idx = int(m.group(1))
            cols = include or names or []
            col = cols[idx] if names and idx < len(names) else _header_name(source, idx)
        expected = {k: str(v) for k, v in types.items()}.get(col, "the expected type")
        raise DataError(f"{fname}: column '{col}' could not be read as {expected}: {msg}") from None


def _header_name(source: Path | io.BytesIO, idx: int) -> str:
    if isinstance(source, Path):
        header = [h.strip().strip('"') for h in _first_line(source, "utf-8").split(",")]
        if idx < len(header):
            return header[idx]
    return f"#{idx}"


def _dat_bytes(path: Path) -> io.BytesIO:
    """ml-1m '::' file as UTF-8 bytes with a single-character (tab) delimiter."""
    raw = path.read_bytes()
    text = raw.decode("latin-1").replace("::", "\t")
    return io.BytesIO(text.encode("utf-8"))


def _read_ratings(path: Path, layout: str) -> pd.DataFrame:
    types = {"userId": pa.int32(), "movieId": pa.int32(), "rating": pa.float32(), "timestamp": pa.int64()}
    if layout == "csv":
        _check_header(path, RATING_COLUMNS)
        tbl = _read_table(path, path.name, names=None, types=types, delimiter=",", quoting=True,
                          include=list(RATING_COLUMNS))
    elif layout == "dat":
        tbl = _read_table(_dat_bytes(path), path.name, names=list(RATING_COLUMNS), types=types,
                          delimiter="\t", quoting=False)
    else:
        tbl = _read_table(path, path.name, names=list(RATING_COLUMNS), types=types,
                          delimiter="\t", quoting=False)
    df = tbl.to_pandas()
    for col in RATING_COLUMNS:
        n_null = int(df[col].isna().sum())
        if n_null:
            raise DataError(f"{path.name}: column '{col}' has {n_null} missing values (expected numbers in every row)")
    r = df["rating"].to_numpy()
    bad = (r < RATING_MIN) | (r > RATING_MAX)
    if bad.any():
        first = float(r[bad][0])
        raise DataError(
            f"{path.name}: column 'rating' has {int(bad.sum())} values outside "
            f"{RATING_MIN}-{RATING_MAX} (first: {first:g})"
        )
    return df


def _split_genres_to_primary(genres: pd.Series) -> tuple[pd.Series, pd.Series]:
    primary = genres.str.split("|", n=1, regex=False).str[0]
    n = genres.str.count(r"\|").astype("int8") + 1
    n = n.where(genres.ne(NO_GENRE), 0).astype("int8")
    return primary.astype("str"), n


def _harmonise_genres(genres: pd.Series) -> pd.Series:
    out = genres.astype("str").fillna("").str.strip()
    for old, new in _GENRE_RENAME.items():
        out = out.str.replace(old, new, regex=False)
    return out.where(out.ne(""), NO_GENRE)


def _read_movies(path: Path, layout: str) -> pd.DataFrame:
    if layout == "csv":
        _check_header(path, MOVIE_COLUMNS)
        tbl = _read_table(
            path, path.name, names=None,
            types={"movieId": pa.int32(), "title": pa.string(), "genres": pa.string()},
            delimiter=",", quoting=True, include=list(MOVIE_COLUMNS),
        )
        df = tbl.to_pandas()
    elif layout == "dat":
        tbl = _read_table(
            _dat_bytes(path), path.name, names=list(MOVIE_COLUMNS),
            types={"movieId": pa.int32(), "title": pa.string(), "genres": pa.string()},
            delimiter="\t", quoting=False,
        )
        df = tbl.to_pandas()
    else:
        names = ["movieId", "title", "release_date", "video_release_date", "imdb_url", *GENRES_100K]
        types: dict[str, pa.DataType] = {"movieId": pa.int32(), "title": pa.string()}
        types.update({g: pa.int8() for g in GENRES_100K})
        raw = path.read_bytes().decode("latin-1").encode("utf-8")
        tbl = _read_table(io.BytesIO(raw), path.name, names=names, types=types, delimiter="|",
                          quoting=False)
        flags = np.column_stack([tbl.column(g).to_numpy(zero_copy_only=False) for g in GENRES_100K])
        labels = np.array(GENRES_100K, dtype=object)
        genres = ["|".join(labels[row.astype(bool)]) for row in flags]
        df = pd.DataFrame({"movieId": tbl.column("movieId").to_numpy(), "title": tbl.column("title").to_pylist(),
                           "genres": genres})
    if df["movieId"].isna().any():
        raise DataError(f"{path.name}: column 'movieId' has missing values (expected an integer id in every row)")
    df["movieId"] = df["movieId"].astype("int32")
    df["title"] = df["title"].astype("str").str.strip()
    df["genres"] = _harmonise_genres(df["genres"])
    df["primary_genre"], df["n_genres"] = _split_genres_to_primary(df["genres"])
    dup = df["movieId"].duplicated(keep="first")
    if dup.any():
        df = df.loc[~dup]
    return df.reset_index(drop=True)


def load_movielens(folder: str | Path, layout: str = "auto") -> MovieLensData:
    """Read a MovieLens folder (any supported layout) into canonical ratings and movies tables.

    Columnar (pyarrow.csv, multi-threaded), so ml-25m/ml-32m load in seconds. Ratings whose
    movieId is not in the movies file are dropped and counted in ``report``.
    """
    t0 = time.perf_counter()
    folder = Path(folder)
    layout = validate_folder(folder, layout)
    rfile, mfile = (folder / f for f in LAYOUT_FILES[layout])
    movies = _read_movies(mfile, layout)
    ratings = _read_ratings(rfile, layout)
    n_read = len(ratings)

    known = ratings["movieId"].isin(movies["movieId"]).to_numpy()
    n_unknown = int((~known).sum())
    if n_unknown == n_read and n_read > 0:
        raise DataError(
            f"{rfile.name}: none of the {n_read} ratings has a movieId listed in {mfile.name} "
            "(column 'movieId'; expected ids present in the movies file)"
        )
    if n_read == 0:
        raise DataError(f"{rfile.name}: the file holds no ratings (expected rows {', '.join(RATING_COLUMNS)})")
    if n_unknown:
        ratings = ratings.loc[known]

    key = (ratings["userId"].to_numpy().astype(np.int64) << 32) | ratings["movieId"].to_numpy().astype(np.int64)
    dup = pd.Series(key).duplicated(keep="last").to_numpy()
    n_dup = int(dup.sum())
    if n_dup:
        ratings = ratings.loc[~dup]
    ratings = ratings.reset_index(drop=True)

    report = {
        "layout": layout,
        "folder": str(folder),
        "ratings_read": n_read,
        "ratings_unknown_movie": n_unknown,
        "ratings_duplicate_pairs": n_dup,
        "ratings": len(ratings),
        "users": int(ratings["userId"].nunique()),
        "movies_listed": len(movies),
        "movies_rated": int(ratings["movieId"].nunique()),
        "load_seconds": round(time.perf_counter() - t0, 3),
    }
    return MovieLensData(ratings=ratings, movies=movies, layout=layout, folder=folder, report=report)
