"""The one table of random streams: every random choice draws from (run seed, named stream).

A stream is a fixed integer mixed with the run's seed through `numpy.random.SeedSequence`, so
each purpose (bootstrap draws, folds, the simulators' worlds) gets its own independent
generator, and adding a stream never changes the numbers of another. Streams are named here
and only here.
"""

from __future__ import annotations

import numpy as np

#: Stream numbers by purpose. Values are part of the results: changing one changes the numbers.
STREAMS: dict[str, int] = {
    # long-term track
    "longterm_bootstrap": 1_001,  # user-cluster bootstrap counts shared by MSM, g-computation, AIPW
    "longterm_refit_bootstrap": 5_005,  # user draws of the bootstrap that re-fits the nuisances
    # interference track
    "interference_assignment": 2_001,  # which slates are promoted
    "interference_clicks": 2_002,  # simulated clicks
    "interference_rerandomization": 2_003,  # the randomization test's re-draws
    "interference_split": 3_001,  # train/test split of the outcome models
    "interference_folds": 3_002,  # cross-fitting folds
    "interference_crossfit": 3_003,  # seeds of the cross-fitted models
    "interference_bootstrap": 3_004,  # bootstrap of the policy values
    # simulators
    "movielens_world": 0x4D4C,  # 'ML'
    "slate_sampling": 0x534C41,  # 'SLA'
    # validation study: per replicate (see `replicate_seed`)
    "replicate_simulation": 0,
    "replicate_estimation": 1,
}


def _stream(name: str) -> int:
    try:
        return STREAMS[name]
    except KeyError:
        raise KeyError(f"unknown random stream '{name}'; streams: {', '.join(STREAMS)}") from None


def stream_sequence(seed: int, name: str) -> np.random.SeedSequence:
    """The seed sequence of stream `name` under the run's `seed`."""
    return np.random.SeedSequence([int(seed), _stream(name)])


def stream_rng(seed: int, name: str) -> np.random.Generator:
    """A generator for stream `name` under the run's `seed`."""
    return np.random.default_rng(stream_sequence(seed, name))


def stream_seed(seed: int, name: str) -> int:
    """A 31-bit integer seed (for scikit-learn's `random_state`) for stream `name`."""
    return int(stream_sequence(seed, name).generate_state(1)[0] >> 1)


def replicate_sequences(seed: int, n_replicates: int) -> list[np.random.SeedSequence]:
    """One independent seed sequence per replicate of a simulation study: SeedSequence(seed).spawn(R)."""
    return np.random.SeedSequence(int(seed)).spawn(int(n_replicates))


def replicate_seed(seed: int, replicate: int, name: str) -> int:
    """A 31-bit seed for stream `name` of replicate `replicate` (independent of how many replicates run)."""
    ss = replicate_sequences(seed, replicate + 1)[replicate]
    child = np.random.SeedSequence(entropy=ss.entropy, spawn_key=(*ss.spawn_key, _stream(name)))
    return int(child.generate_state(1, dtype=np.uint32)[0] >> 1)
