"""App images: the build-and-push pipeline, the Docker engine builder, the registry client."""
