"""The non-volatile chip image: save/load, power cycle, damaged and foreign files (no pickle)."""

from __future__ import annotations

import numpy as np
import pytest

from bioloop.chip import Chip, ChipConfig


def programmed_chip(rng, seed=4, n_clusters=2, **cfg) -> tuple[Chip, dict]:
    prog = {
        "weights": rng.integers(0, 8, (n_clusters, 16, 16)),
        "psp_ref": rng.integers(0, 8, (n_clusters, 16)),
        "threshold_gen": np.array([7, 6, 5, 7][:n_clusters]),
        "threshold_ref": np.array([2, 1, 1, 3][:n_clusters]),
    }
    chip = Chip(ChipConfig(**cfg), n_clusters=n_clusters, seed=seed)
    chip.program(**prog)
    return chip, prog


def behaviour(chip: Chip, axons: np.ndarray):
    chip.reset()
    r = chip.run(axons, record=True)
    return r.fires, r.v


def same_cells(a: Chip, b: Chip) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a._cell_arrays(), b._cell_arrays(), strict=True))


def test_save_load_round_trip_restores_identical_behaviour(tmp_path, rng):
    chip, prog = programmed_chip(rng)
    axons = rng.random((400, 2, 16)) < 0.15
    fires, v = behaviour(chip, axons)
    assert fires.any()
    path = tmp_path / "chip.npz"
    chip.save_image(path)
    other = Chip(n_clusters=2, seed=4)  # the same instance (seed), blank cells
    other.load_image(path)
    assert np.array_equal(other.weights, prog["weights"])
    assert np.array_equal(other.psp_ref, prog["psp_ref"])
    assert other.theta.tolist() == (prog["threshold_gen"] - prog["threshold_ref"]).tolist()
    f2, v2 = behaviour(other, axons)
    assert np.array_equal(f2, fires) and np.array_equal(v2, v)
    assert not list(tmp_path.glob("*.tmp"))  # written atomically, nothing left behind


def test_image_holds_cells_not_devices(tmp_path, rng):
    """Another instance (another seed) reads the same codes but has its own devices."""
    chip, prog = programmed_chip(rng, seed=4)
    path = tmp_path / "chip.npz"
    chip.save_image(path)
    other = Chip(n_clusters=2, seed=5)
    other.load_image(path)
    assert np.array_equal(other.weights, prog["weights"])
    assert not np.allclose(other.t_integ(), chip.t_integ(), rtol=1e-6, atol=0)  # seconds: no atol


def test_image_survives_power_cycle(tmp_path, rng):
    chip, _ = programmed_chip(rng)
    axons = rng.random((300, 2, 16)) < 0.2
    fires, v = behaviour(chip, axons)
    chip.run(axons[:50])  # leave some membrane state
    chip.power_cycle()
    assert chip.cycle == 0 and np.all(chip.refractory == 0)
    f2, v2 = behaviour(chip, axons)
    assert np.array_equal(f2, fires) and np.array_equal(v2, v)
    # and the saved file of a power-cycled chip is the same image
    path = tmp_path / "after.npz"
    chip.save_image(path)
    fresh = Chip(n_clusters=2, seed=4)
    fresh.load_image(path)
    assert same_cells(fresh, chip)


def test_saved_file_has_no_object_arrays(tmp_path, rng):
    chip, _ = programmed_chip(rng)
    path = tmp_path / "chip.npz"
    chip.save_image(path)
    with np.load(path, allow_pickle=False) as z:
        for name in z.files:
            assert z[name].dtype != object, name


def test_blank_chip_cannot_save(tmp_path):
    with pytest.raises(ValueError, match="no program yet"):
        Chip().save_image(tmp_path / "x.npz")


# ---- refusals -------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"does not exist"):
        Chip().load_image(tmp_path / "nope.npz")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ValueError, match="damaged or not a chip image"):
        Chip().load_image(tmp_path)


@pytest.mark.parametrize("keep", [0, 1, 30, 0.5, -1, -22])
def test_truncated_file(tmp_path, rng, keep):
    chip, _ = programmed_chip(rng)
    path = tmp_path / "chip.npz"
    chip.save_image(path)
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep % len(data) if keep < 0 else keep
    path.write_bytes(data[:n])
    with pytest.raises(ValueError, match=r"chip image .* (damaged|not a chip image)"):
        Chip(n_clusters=2, seed=4).load_image(path)


def test_every_flipped_byte_is_refused_or_harmless(tmp_path, rng):
    """Flip bytes in turn: the load either refuses with ValueError or (a byte the zip format
    does not use, e.g. a timestamp) yields exactly the saved image. Every byte of the first
    local header and of the central directory at the end, and a random sample in between."""
    chip, _ = programmed_chip(rng, n_clusters=1)
    path = tmp_path / "chip.npz"
    chip.save_image(path)
    data = path.read_bytes()
    bad = tmp_path / "bad.npz"
    target = Chip(n_clusters=1, seed=4)
    refused = harmless = 0
    middle = np.arange(128, len(data) - 800)
    positions = np.r_[np.arange(128), rng.choice(middle, 400, replace=False),
                      np.arange(len(data) - 800, len(data))]
    for i in positions:
        flipped = bytearray(data)
        flipped[i] ^= 0xFF
        bad.write_bytes(flipped)
        try:
            target.load_image(bad)
        except ValueError:
            refused += 1
            continue
        assert same_cells(target, chip), f"byte {i} changed the image silently"
        harmless += 1
    # most bytes matter (cell data, checksum, zip structure): most flips must be refused
    assert refused > 0.7 * positions.size
    # a sample of single-bit flips (zip flag and method fields react to single bits)
    for i in rng.choice(len(data), 300, replace=False):
        flipped = bytearray(data)
        flipped[i] ^= 1 << int(rng.integers(0, 8))
        bad.write_bytes(flipped)
        try:
            target.load_image(bad)
        except ValueError:
            continue
        assert same_cells(target, chip), f"bit flip at byte {i} changed the image silently"


def test_flipped_cell_bit_is_caught_by_checksum(tmp_path, rng):
    chip, _ = programmed_chip(rng)
    path = tmp_path / "chip.npz"
    chip.save_image(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["syn_bits"] = arrays["syn_bits"].copy()
    arrays["syn_bits"][0, 0, 0, 0] ^= 1  # a valid zip, one cell changed
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="checksum mismatch"):
        Chip(n_clusters=2, seed=4).load_image(path)


def test_foreign_npz(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, x=np.arange(3), y=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not a bioloop chip image"):
        Chip().load_image(path)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="damaged or not a chip image"):
        Chip().load_image(text)
    npy = tmp_path / "array.npy"
    np.save(npy, np.arange(5))
    with pytest.raises(ValueError, match="not a bioloop chip image|damaged"):
        Chip().load_image(npy)


def test_pickled_arrays_are_refused(tmp_path, rng):
    chip, _ = programmed_chip(rng)
    path = tmp_path / "chip.npz"
    chip.save_image(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    obj = np.empty(arrays["syn_bits"].shape, dtype=object)
    obj[...] = arrays["syn_bits"].astype(int)
    arrays["syn_bits"] = obj  # saved with pickle inside the npz
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="allow_pickle"):
        Chip(n_clusters=2, seed=4).load_image(path)


def test_wrong_cluster_count(tmp_path, rng):
    chip, _ = programmed_chip(rng, n_clusters=2)
    path = tmp_path / "chip.npz"
    chip.save_image(path)
    for C in (1, 3):
        with pytest.raises(ValueError, match=rf"holds 2 clusters; this chip has {C}"):
            Chip(n_clusters=C).load_image(path)


def test_incomplete_and_wrong_version(tmp_path, rng):
    chip, _ = programmed_chip(rng)
    path = tmp_path / "chip.npz"
    chip.save_image(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for drop in ("thr_bits", "sha256", "n_clusters"):
        part = {k: v for k, v in arrays.items() if k != drop}
        np.savez(tmp_path / "part.npz", **part)
        with pytest.raises(ValueError, match="incomplete"):
            Chip(n_clusters=2).load_image(tmp_path / "part.npz")
    np.savez(tmp_path / "v3.npz", **{**arrays, "version": np.array(3)})
    with pytest.raises(ValueError, match=r"format version 3; this bioloop reads versions \[1, 2\]"):
        Chip(n_clusters=2).load_image(tmp_path / "v3.npz")


def test_image_with_theta_below_one_leaves_chip_unchanged(tmp_path, rng):
    """A well-formed file (valid checksum) whose threshold codes give theta = 0."""
    from bioloop.chip.chip import _digest

    chip, _ = programmed_chip(rng)
    path = tmp_path / "chip.npz"
    chip.save_image(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["thr_bits"] = arrays["thg_bits"].copy()  # ref = gen: theta 0
    cells = {k: arrays[k] for k in arrays
             if k in ("syn_bits", "psp_bits", "thg_bits", "thr_bits") or k.startswith("route_")}
    arrays["sha256"] = np.array(_digest(cells))
    np.savez(tmp_path / "theta0.npz", **arrays)
    axons = rng.random((100, 2, 16)) < 0.2
    fires, v = behaviour(chip, axons)
    with pytest.raises(ValueError, match=r"theta = 0; theta must be in 1..7"):
        chip.load_image(tmp_path / "theta0.npz")
    f2, v2 = behaviour(chip, axons)  # the old image is still in place and usable
    assert np.array_equal(f2, fires) and np.array_equal(v2, v)
