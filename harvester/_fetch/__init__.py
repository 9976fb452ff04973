"""The /data client: one request resolved into its documents, bounded in size and time, rate
limited, its links checked against the policy."""
