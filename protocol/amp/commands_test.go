package amp_test

import (
	"errors"
	"time"

	"github.com/mustaine/mustaine/protocol/amp"
)

// The calculator of Twisted's AMP documentation, with Twisted's names.

type SumReq struct {
	A int64 `amp:"a"`
	B int64 `amp:"b"`
}

type SumResp struct {
	Total int64 `amp:"total"`
}

type DivideReq struct {
	Numerator   int64 `amp:"numerator"`
	Denominator int64 `amp:"denominator"`
}

type DivideResp struct {
	Result float64 `amp:"result"`
}

var ErrZeroDivision = errors.New("division by zero")

var (
	Sum    = amp.Command[SumReq, SumResp]{Name: "Sum"}
	Divide = amp.Command[DivideReq, DivideResp]{
		Name:   "Divide",
		Errors: []amp.ErrorCode{{Code: "ZERO_DIVISION", Err: ErrZeroDivision}},
	}
)

// Item is one box of Echo's AmpList.
type Item struct {
	Name  string `amp:"name"`
	Count int64  `amp:"count"`
}

// EchoArgs carries every argument type; Echo answers with the same keys.
type EchoArgs struct {
	I  int64       `amp:"i"`
	S  []byte      `amp:"s"`
	U  string      `amp:"u"`
	F  float64     `amp:"fl"`
	B  bool        `amp:"b"`
	D  time.Time   `amp:"d"`
	Dc amp.Decimal `amp:"dc"`
	L  []int64     `amp:"l"`
	LU []string    `amp:"lu"`
	AL []Item      `amp:"al"`
}

var Echo = amp.Command[EchoArgs, EchoArgs]{Name: "Echo"}

func calculator() *amp.Responders {
	rs := amp.NewResponders()
	amp.Respond(rs, Sum, func(r SumReq) (SumResp, error) { return SumResp{r.A + r.B}, nil })
	amp.Respond(rs, Divide, func(r DivideReq) (DivideResp, error) {
		if r.Denominator == 0 {
			return DivideResp{}, ErrZeroDivision
		}
		return DivideResp{float64(r.Numerator) / float64(r.Denominator)}, nil
	})
	amp.Respond(rs, Echo, func(r EchoArgs) (EchoArgs, error) { return r, nil })
	return rs
}
