"""Only this package touches artifact formats (JSON, safetensors, npz) and names the files of a run."""

from .artifacts import (append_jsonl, atomic_write_bytes, check_run_config, load_tensors, read_json,
                        remove_stale_temporaries, save_tensors, write_error, write_json, write_jsonl, write_npz,
                        write_npz_streamed)
from .layout import RunLayout, read_metrics

__all__ = ["RunLayout", "append_jsonl", "atomic_write_bytes", "check_run_config", "load_tensors", "read_json",
           "read_metrics", "remove_stale_temporaries", "save_tensors", "write_error", "write_json", "write_jsonl",
           "write_npz", "write_npz_streamed"]
