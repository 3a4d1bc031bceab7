"""gm-lab's build tooling (fetching data, building the report): imports gm_lib, never imported by it."""
