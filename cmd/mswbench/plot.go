package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Figure size and resolution: one panel is about the width of a paper
// column.
const (
	panelW = 5 * vg.Inch
	panelH = 3.6 * vg.Inch
	dpi    = 150
)

// plotAll draws every figure that has data into dir.
func plotAll(rs *results, dir string) error {
	figs := []struct {
		file string
		draw func(*results) ([]*plot.Plot, error)
	}{
		{"fig6.png", plotFig6},
		{"fig10.png", func(rs *results) ([]*plot.Plot, error) { return plotPorts(rs, "Fig10") }},
		{"fig11.png", func(rs *results) ([]*plot.Plot, error) { return plotPorts(rs, "Fig11") }},
		{"fig12.png", plotFig12},
		{"fig16.png", plotFig16},
	}
	for _, f := range figs {
		ps, err := f.draw(rs)
		if err != nil {
			return fmt.Errorf("plot %s: %w", f.file, err)
		}
		if ps == nil {
			continue
		}
		if err := savePNG(filepath.Join(dir, f.file), ps); err != nil {
			return err
		}
	}
	return nil
}

// savePNG draws the panels side by side into one PNG file.
func savePNG(path string, panels []*plot.Plot) error {
	img := vgimg.NewWith(vgimg.UseWH(panelW*vg.Length(len(panels)), panelH), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2,
		PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	for i, p := range panels {
		p.Draw(tiles.At(dc, i, 0))
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("save plot: %w", err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("save plot %s: %w", path, err)
	}
	return f.Close()
}

// newPlot returns a plot with the house style: title, axis labels, grid,
// legend at the top right.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	p.Y.Tick.Marker = cleanTicks{}
	setLegend(p)
	return p
}

// cleanTicks are gonum's default ticks with labels written without
// trailing zeros ("25", not "25.00").
type cleanTicks struct{}

// Ticks implements plot.Ticker.
func (cleanTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'g', -1, 64)
		}
	}
	return ts
}

// setLegend puts the legend at the top right, in a smaller font.
func setLegend(p *plot.Plot) {
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	p.Legend.Padding = vg.Points(2)
	p.Legend.XOffs = -vg.Points(6)
	p.Legend.YOffs = -vg.Points(4)
}

// addLine adds a line with points in style i (color, dashes, marker shape).
func addLine(p *plot.Plot, label string, xys plotter.XYs, i int) error {
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(i)
	l.Width = vg.Points(1.5)
	s.Color = plotutil.Color(i)
	s.Shape = plotutil.Shape(i)
	s.Radius = vg.Points(3)
	p.Add(l, s)
	if label != "" {
		p.Legend.Add(label, l, s)
	}
	return nil
}

// nominalTicks labels positions 0..len(labels)-1.
func nominalTicks(labels []string) plot.ConstantTicks {
	ts := make(plot.ConstantTicks, len(labels))
	for i, l := range labels {
		ts[i] = plot.Tick{Value: float64(i), Label: l}
	}
	return ts
}

// sizeLabel writes a frame size compactly: 60, 1514, 9K, 64K.
func sizeLabel(n int) string {
	if n >= 8192 && n%1024 != 0 {
		return strconv.Itoa((n+1023)/1024) + "K"
	}
	return strconv.Itoa(n)
}

// plotFig6 draws packet and bit rate against frame size, as the paper's
// Figure 6, with sizes evenly spaced.
func plotFig6(rs *results) ([]*plot.Plot, error) {
	var mpps, gbps plotter.XYs
	var labels []string
	for _, r := range rs.figure("Fig6") {
		size, err := strconv.Atoi(r.param("size"))
		if err != nil {
			continue
		}
		x := float64(len(labels))
		labels = append(labels, sizeLabel(size))
		mpps = append(mpps, plotter.XY{X: x, Y: r.Median["Mpps"]})
		gbps = append(gbps, plotter.XY{X: x, Y: r.Median["Gbps"]})
	}
	if len(labels) == 0 {
		return nil, nil
	}
	a := newPlot("Fig. 6 analog (a): packet rate, 1 sender, xconnect",
		"Frame size (bytes)", "Throughput (Mp/s)")
	b := newPlot("Fig. 6 analog (b): bit rate, 1 sender, xconnect",
		"Frame size (bytes)", "Throughput (Gb/s)")
	for _, p := range []*plot.Plot{a, b} {
		p.X.Tick.Marker = nominalTicks(labels)
		p.X.Min, p.X.Max = -0.3, float64(len(labels))-0.7
		p.Y.Min = 0
	}
	if err := addLine(a, "", mpps, 0); err != nil {
		return nil, err
	}
	if err := addLine(b, "", gbps, 0); err != nil {
		return nil, err
	}
	return []*plot.Plot{a, b}, nil
}

// log2Ticks labels the powers of two from 1 to max.
func log2Ticks(max int) plot.ConstantTicks {
	var ts plot.ConstantTicks
	for v := 1; v <= max; v *= 2 {
		ts = append(ts, plot.Tick{Value: float64(v), Label: strconv.Itoa(v)})
	}
	return ts
}

// portSeries returns, for one algorithm of Figure 10 or 11, throughput by
// number of ports, absolute and relative to P = 1.
func portSeries(rs *results, fig, alg string) (abs, rel plotter.XYs) {
	base, ok := rs.value(fig+"/ports=1/"+alg, "Mpps")
	for _, r := range rs.figure(fig) {
		if !r.has(alg) {
			continue
		}
		p, err := strconv.Atoi(r.param("ports"))
		if err != nil {
			continue
		}
		v := r.Median["Mpps"]
		abs = append(abs, plotter.XY{X: float64(p), Y: v})
		if ok && base > 0 {
			rel = append(rel, plotter.XY{X: float64(p), Y: v / base})
		}
	}
	return abs, rel
}

var portsTitle = map[string]string{
	"Fig10": "Fig. 10 analog: 1 busy + (P-1) idle destinations",
	"Fig11": "Fig. 11 analog: round-robin over P destinations",
}

// plotPorts draws Figure 10 or 11: throughput relative to one port, and
// absolute, against the number of destination ports, mSwitch versus VALE.
func plotPorts(rs *results, fig string) ([]*plot.Plot, error) {
	if len(rs.figure(fig)) == 0 {
		return nil, nil
	}
	rel := newPlot(portsTitle[fig]+" (a)", "Destination ports P (log scale)", "Throughput relative to P = 1")
	abs := newPlot(portsTitle[fig]+" (b)", "Destination ports P (log scale)", "Throughput (Mp/s, 60-byte frames)")
	maxP := 1
	for i, alg := range []struct{ key, label string }{{"mswitch", "mSwitch"}, {"vale", "VALE"}} {
		a, r := portSeries(rs, fig, alg.key)
		for _, xy := range a {
			maxP = max(maxP, int(xy.X))
		}
		if len(r) > 0 {
			if err := addLine(rel, alg.label, r, i); err != nil {
				return nil, err
			}
		}
		if len(a) > 0 {
			if err := addLine(abs, alg.label, a, i); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range []*plot.Plot{rel, abs} {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = log2Ticks(maxP)
		p.Legend.Top = fig == "Fig11" // Figure 10's lines stay near the top
	}
	rel.Y.Min, rel.Y.Max = 0, 1.1
	for _, alg := range []string{"mswitch", "vale"} {
		_, r := portSeries(rs, fig, alg)
		for _, xy := range r {
			rel.Y.Max = max(rel.Y.Max, xy.Y*1.05)
		}
	}
	if fig == "Fig11" {
		abs.Y.Scale = plot.LogScale{}
		abs.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		abs.Y.Min = 0
	}
	return []*plot.Plot{rel, abs}, nil
}

// plotFig12 draws aggregate packet rate against the number of senders, one
// line per batch and frame size.
func plotFig12(rs *results) ([]*plot.Plot, error) {
	type key struct{ batch, size string }
	series := make(map[key]plotter.XYs)
	var order []key
	maxN := 1
	for _, r := range rs.figure("Fig12") {
		n, err := strconv.Atoi(r.param("senders"))
		if err != nil {
			continue
		}
		k := key{r.param("batch"), r.param("size")}
		if _, ok := series[k]; !ok {
			order = append(order, k)
		}
		series[k] = append(series[k], plotter.XY{X: float64(n), Y: r.Median["Mpps"]})
		maxN = max(maxN, n)
	}
	if len(order) == 0 {
		return nil, nil
	}
	p := newPlot("Fig. 12 analog: N senders into one receiver (ring of 1024 slots)",
		"Senders N", "Delivered throughput (Mp/s)")
	for i, k := range order {
		if err := addLine(p, fmt.Sprintf("batch %s, %s B", k.batch, k.size), series[k], i); err != nil {
			return nil, err
		}
	}
	var ts plot.ConstantTicks
	for n := 1; n <= maxN; n++ {
		ts = append(ts, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	p.X.Tick.Marker = ts
	p.X.Min, p.X.Max = 0.8, float64(maxN)+0.2
	p.Y.Min = 0
	top := 0.0
	for _, xys := range series {
		for _, xy := range xys {
			top = max(top, xy.Y)
		}
	}
	p.Y.Max = top * 1.45 // room for the legend
	return []*plot.Plot{p}, nil
}

// plotFig16 draws one bar per module.
func plotFig16(rs *results) ([]*plot.Plot, error) {
	var vals plotter.Values
	var names []string
	for _, r := range rs.figure("Fig16") {
		names = append(names, r.param("module"))
		vals = append(vals, r.Median["Mpps"])
	}
	if len(names) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "Fig. 16 analog: module cost, 60-byte frames, 2 ports"
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.X.Label.Text = "Switching logic"
	p.Y.Label.Text = "Throughput (Mp/s)"
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil // bars need no vertical lines
	p.Add(grid)
	p.Y.Tick.Marker = cleanTicks{}
	bars, err := plotter.NewBarChart(vals, vg.Points(40))
	if err != nil {
		return nil, err
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(names...)
	p.Y.Min = 0
	var xys plotter.XYs
	var labels []string
	for i, v := range vals {
		xys = append(xys, plotter.XY{X: float64(i), Y: v})
		labels = append(labels, strconv.FormatFloat(v, 'f', 1, 64))
	}
	l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
	if err != nil {
		return nil, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign = draw.XCenter
		l.TextStyle[i].YAlign = draw.YBottom
	}
	p.Add(l)
	p.Y.Max = maxValue(vals) * 1.15
	return []*plot.Plot{p}, nil
}

func maxValue(vs plotter.Values) float64 {
	m := 0.0
	for _, v := range vs {
		m = max(m, v)
	}
	return m
}
