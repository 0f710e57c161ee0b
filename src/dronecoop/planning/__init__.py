"""Planning: missions from QGroundControl plans, GeoJSON or waypoints, and their 4D volumes."""
