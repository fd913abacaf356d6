/*
 * newsflow's full-text analyzer for the local Elasticsearch node, as a stable analysis plugin.
 *
 * The local stack runs Elasticsearch's integ-test distribution, which ships without the
 * analysis-common module: no stemmer, stop or asciifolding filter, so only the `standard`
 * analyzer was left and "elections" did not find "election", nor "Zurich" "Zürich". This
 * builds the same chain as the `newsflow_text` custom analyzer that newsflow defines from
 * built-in filters on a full Elasticsearch (newsflow/elastic/index.py), from the Lucene
 * classes every node has on its classpath:
 *
 *   standard tokenizer -> English possessive -> French, Italian and Catalan elisions
 *   (l', d', qu', dell', all', un', ...) -> lowercase -> ASCII folding -> English stop words
 *   -> Porter stemmer
 *
 * Query terms Elasticsearch does not analyze as text (a prefix* without analyze_wildcard)
 * are normalized by the elision, lowercase and folding filters only, as it does with a custom
 * analyzer's normalizing filters (not the possessive, stop or stemmer ones): "dell'Uni*" is
 * "uni*" on both.
 */
package org.newsflow.analysis;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.LowerCaseFilter;
import org.apache.lucene.analysis.StopFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.analysis.en.EnglishPossessiveFilter;
import org.apache.lucene.analysis.en.PorterStemFilter;
import org.apache.lucene.analysis.miscellaneous.ASCIIFoldingFilter;
import org.apache.lucene.analysis.standard.StandardTokenizer;
import org.apache.lucene.analysis.util.ElisionFilter;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.AnalyzerFactory;

@NamedComponent("newsflow_text")
public class NewsflowTextAnalyzerFactory implements AnalyzerFactory {

    @Override
    public Analyzer create() {
        return new NewsflowTextAnalyzer();
    }

    /**
     * The elided words (newsflow.elastic.index.ELISIONS, the list the template gives a full
     * node), matched in any case as the template asks. `newsflow stack up` writes them into
     * the plugin's jar beside this class, one a line, so both chains read one list.
     */
    static final String ELISIONS_RESOURCE = "elisions.txt";

    static final CharArraySet ELISIONS = new CharArraySet(readElisions(), true);

    private static List<String> readElisions() {
        Class<?> self = NewsflowTextAnalyzerFactory.class;
        try (InputStream in = self.getResourceAsStream(ELISIONS_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(ELISIONS_RESOURCE + " is not in the plugin's jar");
            }
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            return text.lines().map(String::strip).filter(line -> !line.isEmpty()).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static final class NewsflowTextAnalyzer extends Analyzer {
        @Override
        protected TokenStreamComponents createComponents(String fieldName) {
            Tokenizer source = new StandardTokenizer();
            // Possessives first: "the UN's" is "UN", not the elided "un'" before an "s".
            TokenStream result = new EnglishPossessiveFilter(source);
            result = new ElisionFilter(result, ELISIONS);
            result = new LowerCaseFilter(result);
            result = new ASCIIFoldingFilter(result);
            result = new StopFilter(result, EnglishAnalyzer.ENGLISH_STOP_WORDS_SET);
            result = new PorterStemFilter(result);
            return new TokenStreamComponents(source, result);
        }

        @Override
        protected TokenStream normalize(String fieldName, TokenStream in) {
            return new ASCIIFoldingFilter(new LowerCaseFilter(new ElisionFilter(in, ELISIONS)));
        }
    }
}
