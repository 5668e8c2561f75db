"""Every setting of a run (Config), grouped by concern, and the named presets.

    settings.py     Config, the flat combination of the groups; preset(name, **overrides)
    data.py         DataSettings: dataset, data root, training subset, validation split
    model.py        ModelSettings: backbone, attention blocks and their options, embedding norm, flow
    training.py     TrainingSettings: schedule, optimiser, what trains, which model is kept
    evaluation.py   EvaluationSettings: test rotations, threshold, AUROC interval
    speed.py        SpeedSettings: device, precision, compilation, feature cache
    groups.py       which group a setting belongs to; each setting's type and docstring
    values.py       setting values from command-line text and from JSON
    presets.py      the named presets (paper, gpu, cpu, demo, ci) and machine_preset(), the one this machine gets
    checks.py       the range and choice checks the groups share
"""

from adnkit.config.groups import GROUPS, field_docs, field_group, field_types, group_fields
from adnkit.config.presets import PRESETS, machine_preset
from adnkit.config.settings import Config, preset
from adnkit.config.values import check_json_value, parse_value

__all__ = ["Config", "GROUPS", "PRESETS", "check_json_value", "field_docs", "field_group", "field_types",
           "group_fields", "machine_preset", "parse_value", "preset"]
