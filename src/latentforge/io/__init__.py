"""Only this package touches artifact formats."""

from .artifacts import (append_jsonl, atomic_write_bytes, check_run_config, load_tensors, read_json,
                        remove_stale_temporaries, save_tensors, write_error, write_json, write_jsonl, write_npz)

__all__ = ["append_jsonl", "atomic_write_bytes", "check_run_config", "load_tensors", "read_json", "save_tensors",
           "write_json", "write_jsonl", "remove_stale_temporaries", "write_error",
           "write_npz"]
