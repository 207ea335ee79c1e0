# The version of the Python package, which is the version of the libfacerec it binds (the
# project's, CMakeLists.txt; tests/test_python.py checks that they agree). The library it
# loads must have the same soname: libfacerec.so.<major>.<minor>.
__version__ = "0.1.0"
