"""Helpers of tests/script/test_terraform_parity.py: an HCL expression parser (``hcl``) for the
expression text python-hcl2 hands back, and the canonical form both deploy/terraform and the SAM
templates are reduced to (``canon``)."""
