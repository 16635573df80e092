// Package sync is the domain of entrasync: the users, groups and assignment
// paths of a tenant, the pure planner that turns a Graph snapshot and the
// local directory into a Plan, the Syncer that runs read → plan → apply, the
// Worker that schedules cycles under leases, and the use cases the CLI and
// the admin API share.
//
// It declares the interfaces it consumes — Source and PrincipalSource for
// Microsoft Graph, Store (Directory, Leaser, Reviewer, Admin, TokenStore)
// for the local directory — and imports the standard library only: no
// adapter, no SQL, no HTTP, no cron. The adapters implement those
// interfaces (graph, store) and synctest has in-memory doubles of them.
//
// Where to read, in the order a cycle runs (the rules are docs/behaviour.md's):
//
//   - model.go: what Graph says (EntraUser, EntraGroup, Snapshot, S2) and
//     what the directory holds (Tenant, User, Group, State).
//   - plan.go: Plan, Change, Conflict, Skip and Diff, the planner's entry
//     point; plan_users.go: scope, create, update, archive, restore and
//     adoption of users (S1, S5, S6, L1–L4, L8, L9); plan_groups.go: groups
//     and memberships (S2, S3, L6, L7); plan_conflicts.go: e-mail keys and
//     conflicts (L10).
//   - guard.go: the archive guard over every destructive change (C6);
//     proof.go: listings proven against Graph's counts (C4). render.go: a
//     plan for people.
//   - syncer.go: Source, Directory and Tx, Run, Event, and Syncer.Cycle
//     (C3, C4, C9). delta.go: incremental cycles — the delta state, the
//     DeltaSource and DeltaStore interfaces, when a cycle reads in full
//     (C11). preload.go: the directory loaded beside a full read, planned
//     against only while its version holds. ondemand.go: provision on
//     demand (C2).
//   - worker.go: Leaser, Cadence and the Worker: schedules, leases claimed
//     into a bounded number of slots, quarantine and pause (C1, C5, C7, C8).
//   - usecases.go: approving a held run, provision on demand under the
//     lease, listings; views.go: effective settings (an override wins).
//   - admin.go: Admin, Reviewer, TokenStore, Store and the administration's
//     backend-free rules (settings, references, invitations, disconnect).
//   - error.go: error codes (ErrorCode) and sentinel errors.
package sync
