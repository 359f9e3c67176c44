package runtime

import (
	"github.com/rs/zerolog"

	"github.com/keelbot/keel/killswitch"
)

// OpenKillSwitch opens the kill switch a bot configured by o watches, for an operator's tool
// (`keel halt|resume|status --config`): the killswitch.file of that configuration, kept in
// step with the fleet's Redis key when store.url is set, so one halt reaches every instance.
//
// Only the sections the switch needs must be valid: an operator halting a production bot need
// not hold its API secret. close releases the Redis connection, if any.
func OpenKillSwitch(o LoadOptions) (sw *killswitch.Switch, close func() error, err error) {
	c, _, err := loadUnvalidated(o)
	if err != nil {
		return nil, nil, err
	}
	if err := c.KillSwitch.Validate(); err != nil {
		return nil, nil, sectionError("killswitch", err)
	}
	if err := c.validateFleet(); err != nil {
		return nil, nil, err
	}
	if !c.fleetEnabled() {
		sw, err := killswitch.New(c.KillSwitch)
		return sw, func() error { return nil }, err
	}
	fl, rdb, err := connectFleet(c, zerolog.Nop())
	if err != nil {
		return nil, nil, err
	}
	sw, err = newKillSwitch(c, fl)
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	return sw, func() error { _ = fl.Close(); return rdb.Close() }, nil
}
