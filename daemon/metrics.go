package daemon

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mswitch/mswitch/fabric"
)

// collector exports the fabric's counters to Prometheus. It reads them at
// scrape time, so forwarding pays nothing for the metrics.
type collector struct{ d *Daemon }

var (
	portLabels   = []string{"switch", "port"}
	workerLabels = []string{"switch", "port", "queue"}

	descRxPackets = prometheus.NewDesc("mswitch_port_rx_packets_total",
		"Packets the switch took from the port.", portLabels, nil)
	descRxBytes = prometheus.NewDesc("mswitch_port_rx_bytes_total",
		"Bytes the switch took from the port.", portLabels, nil)
	descTxPackets = prometheus.NewDesc("mswitch_port_tx_packets_total",
		"Packets the switch delivered to the port.", portLabels, nil)
	descTxBytes = prometheus.NewDesc("mswitch_port_tx_bytes_total",
		"Bytes the switch delivered to the port.", portLabels, nil)
	descDrops = prometheus.NewDesc("mswitch_port_drops_total",
		"Packets dropped, by reason: lookup, malformed, no-port, loop and offload at the input port, queue-full and oversize at the output port, ring-full (the backend's receive ring was full; counted by the kernel) at the input port.",
		[]string{"switch", "port", "reason"}, nil)
	descPortUp = prometheus.NewDesc("mswitch_port_up",
		"1 if the port forwards (for memif, a client is connected), else 0.", []string{"switch", "port", "type"}, nil)
	descBusy = prometheus.NewDesc("mswitch_worker_busy_seconds_total",
		"Time the goroutine draining the input queue spent forwarding, waiting excluded.", workerLabels, nil)
	descBatches = prometheus.NewDesc("mswitch_worker_batches_total",
		"Batches the goroutine draining the input queue forwarded.", workerLabels, nil)
	descWorkerPackets = prometheus.NewDesc("mswitch_worker_packets_total",
		"Packets the goroutine draining the input queue took from it.", workerLabels, nil)
	descMemifConnects = prometheus.NewDesc("mswitch_memif_connects_total",
		"Memif clients that connected to the port.", portLabels, nil)
	descMemifDisconnects = prometheus.NewDesc("mswitch_memif_disconnects_total",
		"Memif clients that disconnected from the port, or were disconnected.", portLabels, nil)
	descSwitches = prometheus.NewDesc("mswitch_switches",
		"Switches the daemon hosts.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRxPackets, descRxBytes, descTxPackets, descTxBytes, descDrops,
		descPortUp, descBusy, descBatches, descWorkerPackets, descMemifConnects, descMemifDisconnects, descSwitches} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	counter := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, labels...)
	}
	ch <- prometheus.MustNewConstMetric(descSwitches, prometheus.GaugeValue, float64(len(d.switches)))
	for _, s := range d.sortedSwitches() {
		for _, ps := range s.sw.Stats() {
			counter(descRxPackets, float64(ps.RxPackets), s.name, ps.Name)
			counter(descRxBytes, float64(ps.RxBytes), s.name, ps.Name)
			counter(descTxPackets, float64(ps.TxPackets), s.name, ps.Name)
			counter(descTxBytes, float64(ps.TxBytes), s.name, ps.Name)
			for r := fabric.DropReason(0); r < fabric.NumDropReasons; r++ {
				counter(descDrops, float64(ps.Drops[r]), s.name, ps.Name, r.String())
			}
		}
		for _, w := range s.sw.Workers() {
			q := strconv.Itoa(w.Queue)
			counter(descBusy, w.Busy.Seconds(), s.name, w.Name, q)
			counter(descBatches, float64(w.Batches), s.name, w.Name, q)
			counter(descWorkerPackets, float64(w.Packets), s.name, w.Name, q)
		}
		for _, p := range s.ports {
			up := 0.0
			if p.attached() {
				up = 1
			}
			if p.memif != nil {
				st := p.memif.Status()
				if !st.Connected {
					up = 0
				}
				counter(descMemifConnects, float64(st.Connects), s.name, p.spec.Name)
				counter(descMemifDisconnects, float64(st.Disconnects), s.name, p.spec.Name)
			}
			ch <- prometheus.MustNewConstMetric(descPortUp, prometheus.GaugeValue, up, s.name, p.spec.Name, p.spec.Type)
		}
	}
}

// MetricsHandler returns the Prometheus handler of the daemon's metrics,
// with the Go runtime's and the process's.
func (d *Daemon) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil})
}
