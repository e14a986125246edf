# The connector release this module deploys: the workspace version in Cargo.toml, as the templates
# carry it (their Description and cfn/template.yaml's ConnectorVersion output, which this output
# mirrors) and every run report does. tests/script/test_release.py holds them equal; CHANGELOG.md
# says what changed, docs/upgrade.md how to move between releases.
locals {
  connector_version = "0.2.0"
}

output "connector_version" {
  description = "The connector release this stack runs (CHANGELOG.md; every run report's version)."
  value       = local.connector_version
}
