"""Run configuration: one plain, serialisable dict per run, read and checked in one place.

- ``yaml_io``: the one YAML reader/writer (safe, YAML 1.2 numbers: ``1e-4`` is a float).
- ``schema``: defaults and component sections of each run kind (``gan``, ``translation``).
- ``load``: presets and files with ``base:`` chains, then ``key=value`` overrides.
- ``validate`` / ``compat``: key, type and range checks; combinations that cannot work.
- ``dotted`` / ``diff``: dotted keys, the merge rule, resume rules, hashes.
"""
from ganscape.config.diff import RESUMABLE_CHANGES, config_diff, config_hash, forbidden_resume_changes
from ganscape.config.dotted import apply_overrides, get_dotted, lookup, merge, set_dotted
from ganscape.config.load import load_config, preset_names, preset_text, read_source
from ganscape.config.schema import SCHEMAS, Schema, schema_for
from ganscape.config.validate import validate
from ganscape.config.yaml_io import dump_yaml, parse_yaml, read_yaml

__all__ = ["RESUMABLE_CHANGES", "SCHEMAS", "Schema", "apply_overrides", "config_diff", "config_hash",
           "dump_yaml", "forbidden_resume_changes", "get_dotted", "load_config", "lookup", "merge",
           "parse_yaml", "preset_names", "preset_text", "read_source", "read_yaml", "schema_for",
           "set_dotted", "validate"]
