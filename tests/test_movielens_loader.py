"""MovieLens loaders: the three layouts on tiny hand-written files, detection and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys_causal.data.errors import DataError
from recsys_causal.data.movielens import (
    GENRES_100K,
    detect_layout,
    load_movielens,
    validate_folder,
)

CSV_MOVIES = (
    'movieId,title,genres\n'
    '1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n'
    '2,"American President, The (1995)",Comedy|Drama|Romance\n'
    '3,Heat (1995),Action|Crime|Thriller\n'
    '4,Unlisted (2001),(no genres listed)\n'
)
CSV_RATINGS = (
    "userId,movieId,rating,timestamp\n"
    "1,1,4.0,964982703\n"
    "1,2,4.5,964981247\n"
    "2,3,0.5,964982224\n"
    "2,1,5.0,964983815\n"
)


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


@pytest.fixture
def csv_folder(tmp_path: Path) -> Path:
    return write(tmp_path / "ml-latest-small", {"movies.csv": CSV_MOVIES, "ratings.csv": CSV_RATINGS})


@pytest.fixture
def dat_folder(tmp_path: Path) -> Path:
    movies = "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Café Society (1995)::Drama\n"
    ratings = "1::1::5::978300760\n1::2::3::978302109\n2::1::4::978301968\n"
    return write(tmp_path / "ml-1m", {"movies.dat": movies.encode("latin-1"), "ratings.dat": ratings})


@pytest.fixture
def k100_folder(tmp_path: Path) -> Path:
    def flags(*names: str) -> str:
        return "|".join("1" if g in names else "0" for g in GENRES_100K)

    toy = flags("Animation", "Children's", "Comedy")
    items = (
        f"1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|{toy}\n"
        f"2|Señor Wences (1996)|01-Jan-1996||http://x|{flags('Drama')}\n"
        f"3|Nothing (1997)|||http://x|{flags('unknown')}\n"
    )
    data = "196\t1\t3\t881250949\n186\t2\t1\t891717742\n22\t3\t5\t878887116\n186\t1\t4\t891717743\n"
    return write(tmp_path / "ml-100k", {"u.item": items.encode("latin-1"), "u.data": data})


# ----------------------------------------------------------------------------------------------
def test_csv_layout(csv_folder: Path) -> None:
    d = load_movielens(csv_folder)
    assert d.layout == "csv"
    r, m = d.ratings, d.movies
    assert [str(t) for t in r.dtypes] == ["int32", "int32", "float32", "int64"]
    assert list(r.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert r["rating"].tolist() == [4.0, 4.5, 0.5, 5.0]
    assert m.loc[m.movieId.eq(2), "title"].item() == "American President, The (1995)"
    assert m.loc[m.movieId.eq(1), "primary_genre"].item() == "Adventure"
    assert m.loc[m.movieId.eq(1), "n_genres"].item() == 5
    assert m.loc[m.movieId.eq(4), "primary_genre"].item() == "(no genres listed)"
    assert m.loc[m.movieId.eq(4), "n_genres"].item() == 0
    assert d.report["ratings"] == 4 and d.report["users"] == 2


def test_dat_layout_latin1(dat_folder: Path) -> None:
    d = load_movielens(dat_folder)
    assert d.layout == "dat"
    m = d.movies.set_index("movieId")
    assert m.loc[2, "title"] == "Café Society (1995)"
    assert m.loc[1, "genres"] == "Animation|Children|Comedy"  # ml-1m spelling harmonised
    assert d.ratings["rating"].tolist() == [5.0, 3.0, 4.0]
    assert d.ratings["timestamp"].tolist() == [978300760, 978302109, 978301968]


def test_100k_layout_genre_flags(k100_folder: Path) -> None:
    d = load_movielens(k100_folder)
    assert d.layout == "100k"
    m = d.movies.set_index("movieId")
    assert m.loc[1, "genres"] == "Animation|Children|Comedy"
    assert m.loc[1, "primary_genre"] == "Animation"
    assert m.loc[2, "title"] == "Señor Wences (1996)"
    assert m.loc[3, "genres"] == "(no genres listed)"
    assert d.ratings.sort_values(["userId", "movieId"])["rating"].tolist() == [5.0, 4.0, 1.0, 3.0]
    assert d.ratings["userId"].dtype == np.int32


def test_detect_layout(csv_folder: Path, dat_folder: Path, k100_folder: Path, tmp_path: Path) -> None:
    assert detect_layout(csv_folder) == "csv"
    assert detect_layout(dat_folder) == "dat"
    assert detect_layout(k100_folder) == "100k"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no ratings file"):
        detect_layout(empty)
    with pytest.raises(DataError, match="does not exist"):
        detect_layout(tmp_path / "nowhere")


def test_named_layout_must_match_files(csv_folder: Path) -> None:
    with pytest.raises(DataError, match=r"ratings\.dat: file is missing"):
        validate_folder(csv_folder, "dat")
    assert validate_folder(csv_folder, "csv") == "csv"


def test_missing_movies_file(tmp_path: Path) -> None:
    folder = write(tmp_path / "m", {"ratings.csv": CSV_RATINGS})
    with pytest.raises(DataError, match=r"movies\.csv: file is missing"):
        load_movielens(folder)


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    bad = "userId,movieId,timestamp\n1,1,964982703\n"
    folder = write(tmp_path / "m", {"movies.csv": CSV_MOVIES, "ratings.csv": bad})
    with pytest.raises(DataError, match=r"ratings\.csv: column 'rating' is missing"):
        validate_folder(folder)


def test_non_numeric_rating(tmp_path: Path) -> None:
    bad = CSV_RATINGS + "3,1,great,964983815\n"
    folder = write(tmp_path / "m", {"movies.csv": CSV_MOVIES, "ratings.csv": bad})
    with pytest.raises(DataError, match=r"ratings\.csv: column 'rating'"):
        load_movielens(folder)


def test_rating_out_of_range(tmp_path: Path) -> None:
    bad = CSV_RATINGS + "3,1,7,964983815\n"
    folder = write(tmp_path / "m", {"movies.csv": CSV_MOVIES, "ratings.csv": bad})
    with pytest.raises(DataError, match=r"ratings\.csv: column 'rating' has 1 values outside 0\.5-5"):
        load_movielens(folder)


def test_dat_non_numeric_first_line(tmp_path: Path) -> None:
    folder = write(tmp_path / "m", {"movies.dat": "1::A (1995)::Drama\n", "ratings.dat": "x::1::5::978300760\n"})
    with pytest.raises(DataError, match=r"ratings\.dat: column 'UserID'"):
        validate_folder(folder)


def test_unknown_movies_dropped_and_counted(tmp_path: Path) -> None:
    extra = CSV_RATINGS + "3,99,3.0,964983815\n3,98,2.0,964983816\n"
    d = load_movielens(write(tmp_path / "m", {"movies.csv": CSV_MOVIES, "ratings.csv": extra}))
    assert d.report["ratings_unknown_movie"] == 2
    assert len(d.ratings) == 4 and not d.ratings["movieId"].isin([98, 99]).any()


def test_all_unknown_movies_is_an_error(tmp_path: Path) -> None:
    ratings = "userId,movieId,rating,timestamp\n1,99,3.0,1\n"
    folder = write(tmp_path / "m", {"movies.csv": CSV_MOVIES, "ratings.csv": ratings})
    with pytest.raises(DataError, match="movieId"):
        load_movielens(folder)


def test_duplicate_pairs_keep_last(tmp_path: Path) -> None:
    dup = CSV_RATINGS + "1,1,2.0,964990000\n"
    d = load_movielens(write(tmp_path / "m", {"movies.csv": CSV_MOVIES, "ratings.csv": dup}))
    assert d.report["ratings_duplicate_pairs"] == 1
    assert d.ratings.loc[d.ratings.userId.eq(1) & d.ratings.movieId.eq(1), "rating"].item() == 2.0
