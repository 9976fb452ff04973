"""What operators see: metrics, reports, alerts and the HTTP endpoint (web/)."""
