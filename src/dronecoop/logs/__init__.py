"""Flight logs in (PX4 ULog, ArduPilot DataFlash, MAVLink tlog): flights, health findings."""
