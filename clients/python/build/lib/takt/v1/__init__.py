"""Generated protobuf messages of the Takt wire protocol (scripts/gen-clients.sh). Do not edit."""
