"""Tables, figures and one-sentence readings for chapter interference_01 (data and slates).

Every function takes the chapter's artifacts (data summary, rating distribution, user and item
features, slates) and returns a DataFrame, a matplotlib figure or a sentence computed from the
numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.describe import format_number
from recsys_causal.style import PALETTE, new_figure

USER_SUMMARY_COLUMNS = ("n_ratings", "mean_rating", "liked_rate", "active_years", "unique_primary_genres",
                        "activity_span_days")
ITEM_SUMMARY_COLUMNS = ("sample_rating_count", "sample_mean_rating", "sample_liked_rate",
                        "log_item_popularity_z", "n_genres")
EXAMPLE_COLUMNS = ("slate_id", "slate_position_seed", "title", "spillover_cluster", "is_focal_item",
                   "same_cluster_as_focal", "observed_relevance", "popularity_bucket", "slate_score")


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def _num(x: float) -> str:
    """Whole numbers with thousands separators, other numbers with 3 significant digits."""
    x = float(x)
    return f"{int(round(x)):,}" if float(x).is_integer() else format_number(x, 3)


def _plain_log_ticks(axis: Any) -> None:
    """Log axis labelled 20, 50, 100 rather than 2x10^1."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    fmt = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(fmt)
    axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))



# ----------------------------------------------------------------------------------------------
# Dataset overview
# ----------------------------------------------------------------------------------------------
def summary_value(summary: pd.DataFrame, metric: str) -> Any:
    """Value of one metric of the data summary (a float when numeric, else the text)."""
    v = summary.loc[summary["metric"].eq(metric), "value"].iloc[0]
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)


def dataset_overview(summary: pd.DataFrame) -> pd.DataFrame:
    """The data summary, with numbers made readable, for display."""
    out = summary.copy()
    out["value"] = [
        _num(float(v)) if _is_number(v) else v
        for v in out["value"].astype("str")
    ]
    return out.rename(columns={"metric": "Metric", "value": "Value", "description": "Meaning"})


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def describe_dataset(summary: pd.DataFrame) -> str:
    """One sentence: size, density and source."""
    g = lambda m: summary_value(summary, m)  # noqa: E731
    src = "simulated" if g("source") == "simulator" else "real"
    return (
        f"The {src} data hold {_num(g('ratings'))} ratings by {_num(g('users'))} users "
        f"on {_num(g('movies_rated'))} movies (density {_pct(g('density'), 2)}), from "
        f"{g('first_rating_date')} to {g('last_rating_date')}; "
        f"{_num(g('ratings_dropped_unknown_movie'))} ratings were dropped because their movie was not listed."
    )


# ----------------------------------------------------------------------------------------------
# Ratings
# ----------------------------------------------------------------------------------------------
def plot_rating_distribution(dist: pd.DataFrame, liked_threshold: float = 4.0) -> Any:
    """Bar chart of rating shares; liked ratings (>= threshold) highlighted."""
    fig, ax = new_figure(height=3.0)
    colors = [PALETTE[3] if r >= liked_threshold else PALETTE[0] for r in dist["rating"]]
    width = 0.8 * float(np.min(np.diff(dist["rating"]))) if len(dist) > 1 else 0.4
    ax.bar(dist["rating"], 100 * dist["share"], width=width, color=colors)
    ax.set_xlabel("rating")
    ax.set_ylabel("share of ratings (%)")
    ax.set_xticks(dist["rating"])
    ax.set_title(f"Ratings; orange = liked (>= {liked_threshold:g})")
    return fig


def describe_rating_distribution(dist: pd.DataFrame, liked_threshold: float = 4.0) -> str:
    mode = dist.loc[dist["share"].idxmax()]
    liked = float(dist.loc[dist["rating"] >= liked_threshold, "share"].sum())
    mean = float((dist["rating"] * dist["share"]).sum())
    return (
        f"The most common rating is {mode['rating']:g} ({_pct(mode['share'])} of ratings); the mean rating is "
        f"{mean:.2f} and {_pct(liked)} of ratings count as liked (>= {liked_threshold:g})."
    )


# ----------------------------------------------------------------------------------------------
# Skew
# ----------------------------------------------------------------------------------------------
def top_share(counts: pd.Series | np.ndarray, top: float = 0.1) -> float:
    """Share of the total held by the top `top` fraction of units."""
    x = np.sort(np.asarray(counts, dtype=np.float64))[::-1]
    k = max(1, int(np.ceil(top * len(x))))
    return float(x[:k].sum() / x.sum())


def plot_user_activity(users: pd.DataFrame) -> Any:
    """Histogram of ratings per user on log-spaced bins (log x axis)."""
    n = users["n_ratings"].to_numpy()
    fig, ax = new_figure(height=3.2)
    bins = np.logspace(np.log10(max(1, n.min())), np.log10(n.max() + 1), 30)
    ax.hist(n, bins=bins, color=PALETTE[0])
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis)
    ax.axvline(np.median(n), color=PALETTE[3], linestyle="--", label=f"median {np.median(n):g}")
    ax.set_xlabel("ratings per user (log scale)")
    ax.set_ylabel("users")
    ax.legend()
    return fig


def describe_user_activity(users: pd.DataFrame) -> str:
    n = users["n_ratings"]
    return (
        f"The median user rated {_num(n.median())} movies but the mean is {format_number(n.mean())}; "
        f"the most active 10% of users gave {_pct(top_share(n))} of all ratings, and the least active "
        f"user rated {_num(n.min())}."
    )


def plot_item_popularity(items: pd.DataFrame) -> Any:
    """Rank-frequency plot of ratings per movie (log-log)."""
    n = np.sort(items["sample_rating_count"].to_numpy())[::-1]
    fig, ax = new_figure(height=3.2)
    ax.plot(np.arange(1, len(n) + 1), n, color=PALETTE[0])
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_ticks(ax.xaxis)
    _plain_log_ticks(ax.yaxis)
    ax.set_xlabel("movie popularity rank (log scale)")
    ax.set_ylabel("ratings per movie (log scale)")
    return fig


def describe_item_popularity(items: pd.DataFrame) -> str:
    n = items["sample_rating_count"]
    return (
        f"Popularity is skewed: the 10% most-rated movies receive {_pct(top_share(n))} of all ratings, "
        f"the median movie has {_num(n.median())} ratings and the most-rated one "
        f"{_num(n.max())}."
    )


# ----------------------------------------------------------------------------------------------
# Genres
# ----------------------------------------------------------------------------------------------
def genre_mix(items: pd.DataFrame) -> pd.DataFrame:
    """Per primary genre (= spillover cluster): movies, ratings, shares and mean rating."""
    g = items.assign(_sum=items["sample_mean_rating"] * items["sample_rating_count"])
    out = g.groupby("primary_genre", sort=False).agg(
        movies=("movieId", "size"), ratings=("sample_rating_count", "sum"), _sum=("_sum", "sum"),
        multi_genre_share=("n_genres", lambda s: float((s > 1).mean())),
    ).reset_index()
    out["share_of_movies"] = out["movies"] / out["movies"].sum()
    out["share_of_ratings"] = out["ratings"] / out["ratings"].sum()
    out["mean_rating"] = out.pop("_sum") / out["ratings"]
    out = out.sort_values(["movies", "primary_genre"], ascending=[False, True], ignore_index=True)
    return out[["primary_genre", "movies", "share_of_movies", "ratings", "share_of_ratings", "mean_rating",
                "multi_genre_share"]]


def plot_genre_mix(mix: pd.DataFrame) -> Any:
    """Horizontal bars: share of movies and share of ratings per primary genre."""
    m = mix.iloc[::-1]
    y = np.arange(len(m))
    fig, ax = new_figure(height=max(3.0, 0.22 * len(m) + 1.0))
    ax.barh(y + 0.2, 100 * m["share_of_movies"], height=0.4, color=PALETTE[0], label="movies")
    ax.barh(y - 0.2, 100 * m["share_of_ratings"], height=0.4, color=PALETTE[1], label="ratings")
    ax.set_yticks(y)
    ax.set_yticklabels(m["primary_genre"])
    ax.set_xlabel("share (%)")
    ax.legend(loc="lower right")
    return fig


def describe_genre_mix(mix: pd.DataFrame) -> str:
    top = mix.iloc[0]
    second = mix.iloc[1] if len(mix) > 1 else top
    multi = float((mix["multi_genre_share"] * mix["movies"]).sum() / mix["movies"].sum())
    return (
        f"{top['primary_genre']} ({_pct(top['share_of_movies'])} of movies) and {second['primary_genre']} "
        f"({_pct(second['share_of_movies'])}) are the largest of {len(mix)} spillover clusters; "
        f"{_pct(multi)} of movies list more than one genre."
    )


# ----------------------------------------------------------------------------------------------
# Feature summaries
# ----------------------------------------------------------------------------------------------
def feature_summary(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Mean, SD and quantiles of each feature (one row per feature)."""
    x = df[list(columns)].astype(np.float64)
    q = x.quantile([0.0, 0.25, 0.5, 0.75, 1.0]).T
    q.columns = ["min", "p25", "median", "p75", "max"]
    out = pd.DataFrame({"feature": list(columns), "mean": x.mean().to_numpy(), "sd": x.std().to_numpy()})
    return pd.concat([out, q.reset_index(drop=True)], axis=1)


def describe_user_features(users: pd.DataFrame) -> str:
    spans = users["activity_span_days"].to_numpy(dtype=float)
    # the span is whole days between the first and last rating (0: all on one day); the median
    # is taken as a value some user has, so it is a whole number of days, never "0.5 days"
    span = int(np.quantile(spans, 0.5, method="inverted_cdf"))
    one_day = float((spans == 0).mean())
    active = (f"at least half ({_pct(one_day)}) rate everything on a single day" if span == 0 else
              f"half are active over at most {span:,} day{'s' if span != 1 else ''}"
              + (f" ({_pct(one_day)} rate everything on a single day)" if one_day > 0 else ""))
    return (
        f"Users like {_pct(users['liked_rate'].mean())} of what they rate on average (SD "
        f"{_pct(users['liked_rate'].std())}); {active}, and {_pct((users['active_years'] > 1).mean())} "
        f"rated in more than one calendar year."
    )


def describe_item_features(items: pd.DataFrame) -> str:
    b = items["popularity_bucket"].value_counts(sort=False)
    parts = ", ".join(f"{k} {int(v)}" for k, v in b.items())
    return (
        f"Movies' liked rates range from {_pct(items['sample_liked_rate'].min(), 0)} to "
        f"{_pct(items['sample_liked_rate'].max(), 0)}; the quartile popularity buckets hold {parts} movies "
        "(tied rating counts always share a bucket)."
    )


# ----------------------------------------------------------------------------------------------
# Slates
# ----------------------------------------------------------------------------------------------
def slate_examples(slates: pd.DataFrame, n_slates: int = 2) -> pd.DataFrame:
    """All rows of the first `n_slates` slates (in table order), with the columns that explain them."""
    ids = pd.unique(slates["slate_id"])[:n_slates]
    return slates.loc[slates["slate_id"].isin(ids), list(EXAMPLE_COLUMNS)].reset_index(drop=True)


def slate_composition(slates: pd.DataFrame) -> pd.DataFrame:
    """One row per slate: focal seed position and number of same-cluster competitors."""
    return slates.groupby("slate_id", sort=False).agg(
        focal_seed_position=("focal_seed_position", "first"),
        same_cluster_competitors=("same_cluster_as_focal", "sum"),
        mean_relevance=("observed_relevance", "mean"),
    ).reset_index()


def describe_example(slates: pd.DataFrame) -> str:
    """Where the first slate's focal item sits and how many competitors share its cluster."""
    ex = slate_composition(slates).iloc[0]
    focal = slates.loc[slates["slate_id"].eq(ex["slate_id"]) & slates["is_focal_item"].eq(1)].iloc[0]
    n_same = int(ex["same_cluster_competitors"])
    return (
        f"In slate `{ex['slate_id']}` the focal item, *{focal['title']}* ({focal['spillover_cluster']}), sits at "
        f"seed position {int(ex['focal_seed_position'])}; {n_same} of the other "
        f"{int(slates['slate_id'].eq(ex['slate_id']).sum()) - 1} items {'shares' if n_same == 1 else 'share'} "
        "its cluster."
    )


def relevance_by_position(slates: pd.DataFrame) -> pd.DataFrame:
    """Mean rating, liked share and popularity at each seed position (a check that position does
    not encode the user's own rating beyond what item popularity implies)."""
    return slates.groupby("slate_position_seed").agg(
        mean_relevance=("observed_relevance", "mean"),
        high_relevance_share=("high_relevance", "mean"),
        mean_log_popularity_z=("log_item_popularity_z", "mean"),
        baseline_visibility=("baseline_visibility", "first"),
    ).reset_index()


def describe_relevance_by_position(table: pd.DataFrame) -> str:
    r = table["mean_relevance"]
    corr = float(np.corrcoef(table["slate_position_seed"], r)[0, 1]) if len(table) > 2 else float("nan")
    return (
        f"Mean relevance moves between {r.min():.2f} and {r.max():.2f} across seed positions (correlation with "
        f"position {corr:.2f}); the order uses item popularity only, so position carries relevance only as far as "
        f"popular movies are rated higher; visibility falls from "
        f"{table['baseline_visibility'].iloc[0]:.2f} at position 1 to {table['baseline_visibility'].iloc[-1]:.2f} "
        "at the bottom."
    )


def plot_slate_design(slates: pd.DataFrame, focal_min_position: int, focal_max_position: int) -> Any:
    """Left: share of slates per focal seed position (uniform line); right: same-cluster competitors."""
    comp = slate_composition(slates)
    fig, (a1, a2) = new_figure(1, 2, height=3.2)
    pos = np.arange(focal_min_position, focal_max_position + 1)
    share = comp["focal_seed_position"].value_counts(normalize=True).reindex(pos, fill_value=0.0)
    a1.bar(pos, 100 * share.to_numpy(), color=PALETTE[0])
    a1.axhline(100 / len(pos), color=PALETTE[3], linestyle="--", label="uniform")
    a1.set_xticks(pos)
    a1.set_xlabel("focal seed position")
    a1.set_ylabel("share of slates (%)")
    a1.legend(loc="lower right")
    counts = comp["same_cluster_competitors"].value_counts(normalize=True).sort_index()
    a2.bar(counts.index.to_numpy(), 100 * counts.to_numpy(), color=PALETTE[2])
    a2.set_xticks(np.arange(0, int(counts.index.max()) + 1))
    a2.set_xlabel("same-cluster competitors in the slate")
    a2.set_ylabel("share of slates (%)")
    fig.tight_layout()
    return fig


def describe_slate_design(slates: pd.DataFrame, focal_min_position: int, focal_max_position: int) -> str:
    comp = slate_composition(slates)
    pos = np.arange(focal_min_position, focal_max_position + 1)
    share = comp["focal_seed_position"].value_counts(normalize=True).reindex(pos, fill_value=0.0)
    c = comp["same_cluster_competitors"]
    return (
        f"Each focal seed position from {focal_min_position} to {focal_max_position} holds between "
        f"{_pct(share.min())} and {_pct(share.max())} of the {len(comp):,} slates (uniform: {_pct(1 / len(pos))}); "
        f"a slate has {c.mean():.2f} same-cluster competitors on average, and {_pct((c > 0).mean())} of slates "
        "have at least one, the items a promotion could take clicks from most directly."
    )


def describe_slate_count(slates: pd.DataFrame, n_requested: int, slate_size: int) -> str:
    """How many slates the experiment has, and why when it is fewer than were asked for."""
    n = int(slates["slate_id"].nunique())
    if n >= n_requested:
        return f"The experiment has {n:,} slates, one per sampled user."
    return (f"**Only {n:,} users have at least slate_size={slate_size} ratings, so the experiment has {n:,} "
            f"slates, not the {n_requested:,} asked for** (interference.n_slate_users); every interval below "
            f"is as wide as {n:,} slates make it.")
