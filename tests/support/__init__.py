"""Shared test helpers: fake servers, configs, images and plugin installs."""
