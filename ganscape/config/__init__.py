"""Run configuration: one plain, serialisable dict per run, read and checked in one place:
``yaml_io`` (the one YAML reader, YAML 1.2 numbers), ``schema`` (defaults and components of each
run kind), ``load`` (presets, files, ``base:`` chains, overrides), ``validate``/``compat`` (keys,
types, ranges, combinations that cannot work), ``dotted`` (keys, the merge rule, resume rules)."""
from ganscape.config.dotted import (RESUMABLE_CHANGES, apply_overrides, config_diff, config_hash,  # noqa: F401
                                    forbidden_resume_changes, get_dotted, lookup, merge, set_dotted)
from ganscape.config.load import load_config, preset_names, preset_text, read_source  # noqa: F401
from ganscape.config.schema import SCHEMAS, Schema, schema_for, with_component_defaults  # noqa: F401
from ganscape.config.validate import validate  # noqa: F401
from ganscape.config.yaml_io import dump_yaml, parse_yaml, read_yaml  # noqa: F401
