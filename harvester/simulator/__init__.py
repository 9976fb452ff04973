"""A faithful fake of iRacing's OAuth service, /data API and S3 links, for tests and the demo.

It imports nothing of harvester but the pure helpers it shares (masking, clock).
"""

from .app import Simulator
from .config import SimConfig
from .server import RunningSimulator
from .transport import SimulatorTransport

__all__ = ["RunningSimulator", "SimConfig", "Simulator", "SimulatorTransport"]
