"""The version of the package, in a module of its own so that any module can name it without importing the
package (and with it everything)."""

__version__ = "0.1.0"
