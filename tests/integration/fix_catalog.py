"""Which integration test applies each fix docs/operations.md gives, literally.

Why: a runbook line nobody ran is a guess. Every reason in the two tables of
docs/operations.md ("Stalled reasons and how to resolve them", "Waits (Progressing) and what
they wait for") names here the tests that produce it and then apply the documented fix (or
let the documented wait end) until Ready or the documented end state.
``tests/unit/test_documented_fix_catalog.py`` fails when a reason of the docs is missing here
or a cited test does not exist.

Keys are reasons; values are pytest node IDs (``path::function``). A reason in both tables
(``CreationResultUnknown``, ``Conflict``, ``OrgNotFound``) is listed in each.
"""

from __future__ import annotations

_FIXES = "tests/integration/test_documented_fixes.py"
_ORGS = "tests/integration/test_documented_fixes_orgs.py"
_ROLES = "tests/integration/test_documented_fixes_roles.py"
_WAITS = "tests/integration/test_documented_fixes_waits.py"
_ANSWERS = "tests/integration/test_documented_fixes_answers.py"
CONNS_FIX = ("tests/integration/test_documented_fixes_connections.py::"
             "test_connection_fixes_reach_ready")
PARTNERS_FIX = "tests/integration/test_documented_fixes_partners.py::test_partner_fixes_reach_ready"
WAITS_FIX = f"{_WAITS}::test_waits_end_by_themselves_or_with_the_documented_step"
LOST_FIX = f"{_WAITS}::test_lost_answers_wait_for_the_next_look_at_datadog"
ADOPTED_FIX = f"{_WAITS}::test_waits_on_an_adopted_org_end_with_the_documented_spec_change"
ANSWERS_FIX = f"{_ANSWERS}::test_answers_fixed_as_documented_with_injected_faults"
ROLES_FIX = f"{_ROLES}::test_role_and_user_adoption_fixes_reach_ready"
ORGS_FIX = f"{_ORGS}::test_lost_keys_restored_and_wrong_adoptions_redone_as_documented"

STALLED: dict[str, list[str]] = {
    # both branches: none created (marker removed), one created (its keys put in the Secret)
    "CreationResultUnknown": [
        f"{_FIXES}::test_clearing_the_pending_marker_after_a_lost_create_retries_it",
        LOST_FIX],
    "AdoptAfterCreate": [f"{_FIXES}::test_removing_spec_adopt_after_adopt_after_create_resumes"],
    "InvalidSetting": ["tests/integration/test_org_settings.py::"
                       "test_a_value_datadog_refuses_is_a_condition_naming_the_field"],
    # the spec.adopt branch: the right keys put in the Secret, then ddmsp.io/retry
    "SecretConflict": ["tests/integration/test_adoption.py::"
                       "test_adopt_errors_name_their_cause_and_phase_is_never_ready", ORGS_FIX],
    "CredentialsLost": [ORGS_FIX],
    "OrgNotFound": [ORGS_FIX],
    "AdoptedOrgNotFound": [ORGS_FIX],
    "SecretNotOwned": ["tests/integration/test_hardening.py::"
                       "test_a_foreign_secret_stops_the_create_and_a_stalled_object_can_be_redriven"],
    "UnknownPermissions": ["tests/integration/test_roles.py::"
                           "test_unknown_permissions_explain_the_fix"],
    "SAMLNotAvailable": ["tests/integration/test_saml.py::"
                         "test_an_org_where_saml_cannot_be_enabled_stalls_with_the_fix"],
    "InvalidMetadata": ["tests/integration/test_saml.py::"
                        "test_bad_metadata_stalls_with_the_reason_and_a_fix_unblocks"],
    "UnsafeMetadata": ["tests/integration/test_saml.py::"
                       "test_bad_metadata_stalls_with_the_reason_and_a_fix_unblocks"],
    "RoleExists": [ROLES_FIX],
    "ManagedRole": [ROLES_FIX],
    "AmbiguousRole": [ROLES_FIX],
    "AdoptTargetNotFound": [ROLES_FIX],
    "AdoptionMismatch": [ROLES_FIX],
    "RoleInAnotherOrg": [ROLES_FIX],
    "EmailTaken": [f"{_ROLES}::test_injected_409_without_such_a_user_is_email_taken_then_retried"],
    "OutcomeUnknown": [ANSWERS_FIX],
    "Conflict": [ANSWERS_FIX],
    "InvalidRequest": [ANSWERS_FIX],
    "OrgConfigUnavailable": [ANSWERS_FIX],
    "SpinOffUnconfirmed": [
        f"{_ANSWERS}::test_spin_off_refused_then_recorded_by_hand_reaches_ready"],
    "AdminRoleMissing": [
        f"{_ANSWERS}::test_admin_role_restored_then_the_service_account_is_made"],
    "NotSameAccount": [CONNS_FIX],
    "SiteMismatch": [CONNS_FIX],
    "SinkNotFound": [CONNS_FIX],
    "PartnerSiteMismatch": [PARTNERS_FIX],
    "UserExists": ["tests/integration/test_adoption.py::"
                   "test_existing_user_is_refused_until_adopted"],
    "ConnectionExists": ["tests/integration/test_orgconnections.py::"
                         "test_existing_pair_refused_until_adopted_then_orphaned"],
}

WAITS: dict[str, list[str]] = {
    "ServiceAccountMissing": [ADOPTED_FIX],
    # the way out the docs give for a source that adopted its org (it records no partner)
    "PartnerUnknown": [ADOPTED_FIX],
    "CreationResultPending": [LOST_FIX],
    "AnswerLost": [LOST_FIX],
    "PartnerNotFound": [PARTNERS_FIX],
    "PartnerAmbiguous": [PARTNERS_FIX],
    "PartnerNotAllowed": [PARTNERS_FIX],
    "DefaultConflict": [PARTNERS_FIX],
    "DatadogError": [WAITS_FIX],
    "NotFound": [WAITS_FIX],
    "CredentialsInvalid": [WAITS_FIX],
    "RateLimited": [WAITS_FIX],
    # a user's create whose answer was lost, found by its email (the event says so)
    "CreationResultUnknown": [WAITS_FIX],
    "MetadataMissing": [WAITS_FIX],
    # and two DatadogClientOrgs over one org: the older one deleted, the younger takes over
    "Conflict": [WAITS_FIX, "tests/integration/test_adoption.py::"
                 "test_a_second_client_org_over_a_created_org_waits_named_until_the_first_goes"],
    "DeletionPaused": [WAITS_FIX],
    # a key fault (simulator/faults.py) refuses the service account's new key once
    "ServiceAccountKeyNotWorking": [
        f"{_WAITS}::test_a_new_service_account_key_refused_at_first_waits_then_hands_over"],
    "KeysInvalid": ["tests/integration/test_service_account.py::"
                    "test_a_refused_key_raises_keys_invalid_and_the_metric",
                    "tests/integration/test_service_account.py::"
                    "test_a_revoked_org_key_is_named_by_the_objects_acting_in_the_org"],
    "AwaitingRegistration": ["tests/integration/test_kubectl_plugin.py::"
                             "test_confirm_registration_through_kubectl"],
    "OrgNotReady": ["tests/integration/test_roles.py::"
                    "test_role_before_its_org_waits_quietly_then_converges"],
    "RoleNotFound": [ROLES_FIX],
    "RoleNotReady": ["tests/integration/test_users.py::"
                     "test_create_invite_exact_roles_and_a_role_that_appears_later"],
    "CredentialsMissing": ["tests/integration/test_clientorg.py::"
                           "test_missing_then_wrong_partner_credentials_recover_by_themselves"],
    "DatadogUnavailable": ["tests/integration/test_hardening.py::"
                           "test_transient_errors_in_a_drift_check_never_wedge_an_object"],
    "MissingPermission": ["tests/integration/test_hardening.py::"
                          "test_missing_key_permissions_name_the_permission_and_the_secret"],
    "SecretNotWritable": ["tests/integration/test_hardening.py::"
                          "test_an_unwritable_secret_stops_the_create_before_any_org"],
    "WaitingForDependents": ["tests/integration/test_teardown.py::"
                             "test_the_org_deleted_first_waits_for_its_dependents_and_says_so",
                             "tests/integration/test_orgconnections.py::"
                             "test_clients_deleted_with_their_connection_wait_for_it_and_say_so"],
    "KeysInEscrow": ["tests/integration/test_teardown.py::"
                     "test_namespace_deletion_tears_down_and_keys_come_back_with_an_admin_step"],
}

# Keys "stalled/Reason" or "wait/Reason" (the table). Reasons no test can produce honestly,
# and why; printed by the unit test.
NOT_EXERCISED: dict[str, str] = {
    "stalled/InvalidSpec": "needs a spec the CRD schema admits and the operator's model "
    "refuses; admission and model are made to agree (issue 19 item 4, "
    "test_admission_agreement.py), so only an object written with validation bypassed "
    "gets it",
    "stalled/LockoutRiskNotAcknowledged": "admission (a CEL rule) refuses strictMode: true "
    "without acknowledgeLockoutRisk before the operator sees it; test_saml.py::"
    "test_lockout_needs_acknowledgement_and_cert_expiry_warns shows the refusal and the "
    "acknowledged spec reaching Ready",
    "stalled/PermissionsNotApplied": "needs Datadog to keep permissions after an exact "
    "(opt-out) update; the simulator follows the recorded behaviour, where it never does; "
    "tests/unit/test_role_permissions.py checks the stop and the message",
    "wait/Creating": "raised when the read right after an accepted create does not show the "
    "object yet (read-after-write lag); the simulator's reads are consistent, so every "
    "create passes through it within one pass",
    "wait/Updating": "raised when a read right after an accepted update still differs "
    "(read-after-write lag); the simulator's reads are consistent",
    "wait/Deleting": "raised when a read right after an accepted delete still shows the "
    "object (read-after-write lag); the simulator's reads are consistent",
    "wait/DeletionError": "only for an exception in a deletion that is no Datadog error (a "
    "bug, or the Kubernetes API failing mid-deletion); Datadog's errors get their own "
    "reasons",
    "wait/OrgNotFound": "keys (credentialsSecretRef) whose org listing is empty; Datadog's "
    "GET /api/v1/org always lists the keys' own org (recorded), and a fault can only "
    "answer an error, not an empty list",
    "wait/ObjectChanged": "a compare-and-swap race inside one pass (another writer between "
    "read and write), retried within a second; tests/unit/test_deletion.py forces it",
    "wait/NotLeader": "the Lease lost between a create's preparation and its call, a "
    "window of milliseconds no test can aim at from outside the process",
}

# Same keys: reasons whose documented wait could be produced, but no test does yet.
UNTESTED: dict[str, str] = {}
