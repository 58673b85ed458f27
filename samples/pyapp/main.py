"""pyapp: prints the greeting written in config.yaml, read with PyYAML (a library apt installed: see Dockerfile)."""
from pathlib import Path

import yaml

config = yaml.safe_load((Path(__file__).parent / "config.yaml").read_text())
print(config["greeting"])
