"""Sphinx configuration of the hoag_shine documentation."""
import inspect
import os
from datetime import date

# The examples work on small matrices, for which BLAS threads cost more than
# they save (and slow everything down on a busy machine). The variables must
# be set before NumPy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# the examples draw their figures without a display
os.environ.setdefault("MPLBACKEND", "Agg")

from threadpoolctl import threadpool_limits  # noqa: E402  (after the variables)

import hoag_shine  # noqa: E402

threadpool_limits(limits=1, user_api="blas")

# -- project ----------------------------------------------------------------

project = "hoag_shine"
author = "the hoag_shine developers"
copyright = f"{date.today().year}, {author}"
version = hoag_shine.__version__
release = hoag_shine.__version__

# -- general ----------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # ships MathJax and copies it into _static: the math renders offline
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

# the local copy of MathJax installed by sphinx-mathjax-offline, never a CDN
mathjax_path = "mathjax/tex-chtml.js"

templates_path = ["_templates"]
exclude_patterns = ["_build"]
root_doc = "index"

# -- API reference: autosummary + autodoc, rendered by numpydoc --------------

autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
autodoc_member_order = "bysource"
# the class template lists the methods with autodoc, so numpydoc must not add
# a second table of members
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# -- example gallery ----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("hoag_shine",),
    "abort_on_example_error": True,
    "within_subsection_order": "FileNameSortKey",
    "min_reported_time": 1,
    # no sg_execution_times.rst in the source tree
    "write_computation_times": False,
}

# -- HTML output ----------------------------------------------------------------

html_theme = "alabaster"
html_title = f"hoag_shine {release}"
html_theme_options = {
    "description": "Hyperparameter optimization with approximate gradients and SHINE",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "230px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}


# -- hooks ------------------------------------------------------------------------


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Hide the ``set_*_request`` methods that scikit-learn generates.

    They belong to scikit-learn's metadata routing, not to hoag_shine, and
    their docstrings refer to pages of the scikit-learn documentation.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def _constructor_signature(app, what, name, obj, options, signature,
                           return_annotation):
    """Show ``__init__``'s parameters for classes built on SciPy's LinearOperator.

    ``LinearOperator`` defines ``__new__(cls, *args, **kwargs)``, which autodoc
    would otherwise print as the signature of every subclass.
    """
    if what == "class" and signature == "(*args, **kwargs)" and "__init__" in vars(obj):
        init = inspect.signature(obj.__init__)
        params = list(init.parameters.values())[1:]
        return str(init.replace(parameters=params)), return_annotation
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
    app.connect("autodoc-process-signature", _constructor_signature)
