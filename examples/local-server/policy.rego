# Open Policy Agent policy of the `notes` example server (the same rules as policy.yaml).
#
# Run it with:  opa run --server --addr 127.0.0.1:8181 examples/local-server/policy.rego
# and start the example with MCP_PDP_ADAPTER=opa OPA_URL=http://127.0.0.1:8181
# (decision `data.mcp.authz.allow`, the adapter's default OPA_DECISION_PATH; set
# OPA_DECISION_PATH=mcp/authz/decision to get a reason with each decision).
#
# The adapter sends {subject, action, resource, operation} as input. With server name "notes":
#   tools/call                  -> resource type notes, action = tool name with _ as - (read-note)
#   tools/list                  -> type notes_tools,              action list
#   resources/list, read        -> type notes_resources,          action list / read (key = the URI)
#   resources/templates/list    -> type notes_resource_templates, action list
#   prompts/list, get           -> type notes_prompts,            action list / get (key = the name)
# A list item is decided like calling or reading it (operation.phase is "list"), so one rule
# governs both. Anything not allowed here is denied: guests and unauthenticated callers get nothing.
package mcp.authz

import rego.v1

default allow := false

read_only_tools := {"list_notes", "read_note", "search_notes"}

user_listable := {"notes_tools", "notes_resources", "notes_resource_templates"}

roles contains role if some role in input.subject.roles

authenticated if input.subject.authenticated == true

is_admin if {
	authenticated
	"admin" in roles
}

is_user if {
	authenticated
	"user" in roles
}

# Administrators see and call everything.
allow if is_admin

# Users may list tools, resources and resource templates, but not prompts.
allow if {
	is_user
	input.action == "list"
	input.resource.type in user_listable
}

# Users see and call the read-only tools.
allow if {
	is_user
	input.resource.type == "notes"
	input.operation.name in read_only_tools
}

# Users see and read the index and every note (the template lists as notes://note/{id}).
allow if {
	is_user
	input.resource.type == "notes_resources"
	input.action == "read"
	readable_note(input.resource.key)
}

readable_note(key) if key == "notes://index"

readable_note(key) if startswith(key, "notes://note/")

# The decision with a reason, for OPA_DECISION_PATH=mcp/authz/decision.
decision := {"allow": allow, "reason": reason}

reason := "administrators may do everything" if {
	is_admin
} else := "allowed to users by the notes policy" if {
	allow
} else := "not allowed by the notes policy"
