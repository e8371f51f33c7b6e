"""How a PyNN neuron becomes a chip neuron: the translation table, one helper per rule.

The chip's voltages are fixed analog levels (V_REST, V_TH, V_RFR, ...), its weights are 3-bit
codes against a PSP reference, its threshold is a code ``theta`` per cluster and its leak,
V_RFR and absolute refractory period are shared by every neuron of the chip (one config).
``IF_curr_delta`` (PyNN's LIF with voltage-jump synapses) is translated by mapping each
population's threshold gap ``v_thresh - v_rest`` onto the chip's gap ``V_TH - V_REST``:
a model voltage ``v`` becomes ``V_REST + (v - v_rest) (V_TH - V_REST) / (v_thresh - v_rest)``.

=================  =====================================================================
PyNN parameter      on the chip
=================  =====================================================================
``v_rest``          V_REST (chip-wide level; 625 mV by default)
``v_thresh``        V_TH (850 mV by default); a single input fires from rest iff it
                    reaches V_TH, as in the model
``v_reset``         V_RFR = V_REST + (V_TH - V_REST) (v_reset - v_rest) / (v_thresh -
                    v_rest), chip-wide; the chip needs V_RFR < V_REST, so ``v_reset =
                    v_rest`` (PyNN's default) becomes V_REST - 1 uV (one leak pulse
                    brings it back: no measurable difference)
``tau_m``           leak per GCLK cycle L = f (V_TH - V_REST) dt / tau_m, i.e. I_LEAK =
                    L C_INT / t_SWLEAK, chip-wide, with f = ``setup(leak_match=...)``
                    (default 0.5). The chip's leak is linear (a fixed step toward V_REST
                    each cycle), the model's exponential: L equals the exponential's slope
                    at the fraction f of the gap above rest (0.5: halfway to threshold).
                    Closer to threshold the chip leaks more slowly than the model, closer to
                    rest faster, and it reaches V_REST where the model only approaches it.
                    f = 0.5 agreed best with ``pyNN.brian2`` on Poisson-driven networks
                    (see ``tests/test_pynn_crosscheck.py`` and ``docs/pynn.md``)
``tau_refrac``      N_ABS = round(tau_refrac / dt) GCLK cycles, chip-wide; during them the
                    chip ignores input (counted), where ``pyNN.brian2`` still adds it to v
``weight`` (mV)     signed code s = w - r = round(weight / step), step = (v_thresh - v_rest)
                    (V_TH - V_CM_TWG) C_TWG / ((V_TH - V_REST) C_INT theta): the mapper
                    chooses theta (per cluster) and r (per AXON row) for the smallest
                    quantisation error; |s| <= 7 and a row's 16 codes share one r
``delay`` (ms)      from a spike source: the AXON cycle is round((t + delay) / dt); between
                    chip neurons: the route's latency, delay / dt cycles (by default the
                    NoC's ``base_cycles``, ``hop_cycles = 0``; with ``setup(noc=...)``,
                    ``base_cycles + hops * hop_cycles``)
``cm``              no effect for IF_curr_delta (delta synapses); see below for the others
``i_offset``        must be 0: the chip has no bias current
timestep ``dt``     one GCLK cycle: gclk_hz = 1000 / dt (dt in ms, 0.02 to 1 ms)
=================  =====================================================================

``IF_curr_exp`` and ``IF_curr_alpha`` (current synapses) are translated as IF_curr_delta, with
each synaptic current turned into a voltage jump of the same charge: the chip's PSP is a step
delivered within one integration window, so a current of weight w (nA) onto ``cm`` (nF) becomes
a jump of ``w q tau_syn / cm`` mV (:func:`psp_jump_mv`), q = 1 for the exponential current
(``IF_curr_exp``), q = e for the alpha current (``IF_curr_alpha``), tau_syn = ``tau_syn_E`` for
excitatory and ``tau_syn_I`` for inhibitory projections. The jump has the model PSP's area (so
the mean depolarisation of many inputs is the model's), not its shape: the model's PSP rises over
a few tau_syn and, by then leaking, peaks lower (:func:`psp_peak_fraction`: 77 % of the jump for
an exponential current, 72 % for an alpha current, with tau_syn = 2 ms, tau_m = 20 ms), so on the
chip a single input reaches further, sooner. The error grows with tau_syn / tau_m.

``ChipNeuron`` needs no translation: ``theta`` is the cluster's code, ``v_th``, ``v_rest``,
``v_rfr`` are the chip's levels in mV, ``leak`` is L in mV per cycle and ``n_abs`` is N_ABS.
"""

from __future__ import annotations

import numpy as np

from ..chip.config import ChipConfig

#: V_RFR below V_REST when the model resets to rest (the chip needs V_RFR < V_REST)
RESET_AT_REST_OFFSET = 1e-6


#: where the linear leak has the exponential's slope, as a fraction of the gap above rest
LEAK_MATCH = 0.5


def leak_per_cycle(tau_m_ms, dt_ms: float, gap_v: float, match: float = LEAK_MATCH) -> np.ndarray:
    """Chip leak step (V per cycle): the exponential's slope at ``match`` of the gap.

    Examples
    --------
    >>> float(leak_per_cycle(20.0, 1.0, 0.225, match=1.0))  # at threshold: 225 mV / 20 cycles
    0.01125
    >>> round(float(leak_per_cycle(20.0, 1.0, 0.225)), 7)  # halfway (the default)
    0.005625
    """
    return match * gap_v * dt_ms / np.asarray(tau_m_ms, float)


def n_abs_cycles(tau_refrac_ms, dt_ms: float) -> np.ndarray:
    """Absolute refractory cycles: tau_refrac / dt, rounded.

    Examples
    --------
    >>> n_abs_cycles([2.0, 0.1], 0.1).tolist()
    [20, 1]
    """
    return np.rint(np.asarray(tau_refrac_ms, float) / dt_ms).astype(np.int64)


def v_rfr_level(v_reset, v_rest, v_thresh, chip_v_rest: float, chip_v_th: float) -> np.ndarray:
    """V_RFR (V) for a model reset; at rest it sits :data:`RESET_AT_REST_OFFSET` below V_REST.

    Examples
    --------
    >>> round(float(v_rfr_level(-70.0, -65.0, -50.0, 0.625, 0.850)), 6)
    0.55
    """
    ratio = (np.asarray(v_reset, float) - v_rest) / (np.asarray(v_thresh, float) - v_rest)
    level = chip_v_rest + (chip_v_th - chip_v_rest) * ratio
    return np.where(ratio == 0, chip_v_rest - RESET_AT_REST_OFFSET, level)


def step_at_theta1(gap_mv, cfg: ChipConfig) -> np.ndarray:
    """Model mV per unit of s at theta = 1 (divide by theta for the cluster's step).

    Examples
    --------
    >>> round(float(step_at_theta1(15.0, ChipConfig())), 6)  # 15 mV gap: 250/225 of it
    16.666667
    """
    return np.asarray(gap_mv, float) * cfg.dv_per_unit / (cfg.v_th - cfg.v_rest)


def chip_voltage(v_model, v_rest, gap_mv, cfg: ChipConfig) -> np.ndarray:
    """A model voltage (mV) as the chip's V_INTEG (V)."""
    return cfg.v_rest + (np.asarray(v_model, float) - v_rest) / gap_mv * (cfg.v_th - cfg.v_rest)


def model_voltage(v_chip, v_rest, gap_mv, cfg: ChipConfig) -> np.ndarray:
    """The chip's V_INTEG (V) as a model voltage (mV): the inverse of :func:`chip_voltage`.

    Examples
    --------
    >>> cfg = ChipConfig()
    >>> round(float(model_voltage(chip_voltage(-55.0, -65.0, 15.0, cfg), -65.0, 15.0, cfg)), 9)
    -55.0
    """
    return v_rest + (np.asarray(v_chip, float) - cfg.v_rest) / (cfg.v_th - cfg.v_rest) * gap_mv


#: charge of a current synapse of unit weight, in units of weight * tau_syn (nA ms)
PSC_CHARGE = {"exp": 1.0, "alpha": float(np.e)}


def psp_jump_mv(weight_na, tau_syn_ms, cm_nf, shape: str) -> np.ndarray:
    """The delta-synapse jump (mV) with the charge of a current synapse: w q tau_syn / cm.

    Examples
    --------
    >>> float(psp_jump_mv(1.0, 2.0, 1.0, "exp"))  # 1 nA for 2 ms onto 1 nF
    2.0
    >>> round(float(psp_jump_mv(0.5, 2.0, 0.5, "alpha")), 4)  # PyNN's specific_network.py
    5.4366
    """
    return (np.asarray(weight_na, float) * PSC_CHARGE[shape] * np.asarray(tau_syn_ms, float)
            / np.asarray(cm_nf, float))


def psp_peak_fraction(tau_syn_ms: float, tau_m_ms: float, shape: str) -> float:
    """Peak of the model's PSP (exponential membrane, current synapse) as a fraction of the
    jump of the same charge that the chip gives (trapezoidal integral, grid tau_syn / 1000).

    Examples
    --------
    >>> round(psp_peak_fraction(2.0, 20.0, "exp"), 3)  # analytically 0.774
    0.774
    >>> round(psp_peak_fraction(2.0, 20.0, "alpha"), 3)
    0.724
    """
    t = np.arange(0.0, 10.0 * tau_m_ms, tau_syn_ms / 1000.0)
    x = t / tau_syn_ms
    current = np.exp(-x) if shape == "exp" else x * np.exp(1.0 - x)
    f = current * np.exp(t / tau_m_ms)  # V(t) = exp(-t/tau_m) * integral of f (unit cm)
    integral = np.concatenate([[0.0], np.cumsum((f[1:] + f[:-1]) * np.diff(t) / 2.0)])
    v = np.exp(-t / tau_m_ms) * integral
    return float(v.max() / (PSC_CHARGE[shape] * tau_syn_ms))
