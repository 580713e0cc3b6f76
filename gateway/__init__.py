"""The gateway: durable OMR jobs over gRPC and REST, backed by storage/ and the OMR servers."""
