package pgstore

import "context"

// SetMoveHookForTest makes f run inside each step of a move over history, at stage "validated": after the
// events moved and the DEFAULT partition's constraint was validated, before ATTACH PARTITION.
func SetMoveHookForTest(s *Store, f func(ctx context.Context, stage string)) { s.moveHook = f }
